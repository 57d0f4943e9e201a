"""Issue 21 deliverable 2/3: which of ``s37_first``'s guard steps to port into the graph next. The Python path's peaks
(``signal.find_rpeaks``, the ``cinc2017-edge`` preset's signal config) at ``gap_port.py``'s point "on_post_wide" (the
steps the graph runs today) against the same with one more step at ``s37_first``'s values: the blocked-P-wave check
(``rpeak_guard_blocked_p`` 0.8, ``blocked_p_unlike`` 0.9, ``blocked_p_after`` 0.5; ``rpeak_guard.blocked_p_wave``) or
the T-wave check of the kept peaks (``rpeak_guard_t_wave`` 0.9, ``t_wave_size`` 4, ``t_wave_all``;
``rpeak_guard.t_wave_like``: with the second proposer off, the only part of that option the graph could run). On
the CinC 2017 training records (``prepare.assign_splits``, seed 42, the presets' split: never the validation records
the agreement is measured on; every ``--every``-th): peaks each step removes or adds, records changed, CPU seconds.

    python experiments/edge/next_step_effect.py --every 5 --out benchmarks/results/edge_next_step_effect.json

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
STEPS = {"blocked_p": {"rpeak_guard_blocked_p": 0.8, "constants": {"blocked_p_unlike": 0.9, "blocked_p_after": 0.5}},
         "t_wave": {"rpeak_guard_t_wave": 0.9, "constants": {"t_wave_size": 4.0, "t_wave_all": True}}}


def main(argv=None) -> int:
    from ecgsl_keras.data import signal as signal_lib
    from look_output import finish
    from training_look import training_look

    args, base, reader, ids = training_look(__doc__, argv)
    signals = {"on_post_wide": base}
    for name, step in STEPS.items():
        options = {k: v for k, v in step.items() if k != "constants"}
        signals[name] = dataclasses.replace(base, **options, rpeak_guard_constants={**dict(base.rpeak_guard_constants),
                                                                                      **step["constants"]})
    change = {name: {"peaks_removed": 0, "peaks_added": 0, "records_changed": 0} for name in STEPS}
    seconds = {name: 0.0 for name in signals}
    peaks_total = 0
    for i, rid in enumerate(ids):
        record = reader.load(rid)
        x, fs = np.asarray(record.lead(), np.float64), float(record.fs)
        found = {}
        for name, sc in signals.items():
            t0 = time.process_time()
            found[name] = signal_lib.find_rpeaks(x, fs, sc)
            seconds[name] += time.process_time() - t0
        peaks_total += found["on_post_wide"].size
        for name in STEPS:
            removed = np.setdiff1d(found["on_post_wide"], found[name]).size
            added = np.setdiff1d(found[name], found["on_post_wide"]).size
            change[name]["peaks_removed"] += removed
            change[name]["peaks_added"] += added
            change[name]["records_changed"] += int(removed + added > 0)
        if (i + 1) % 100 == 0:
            print(f"{i + 1} / {len(ids)}", change, file=sys.stderr)
    result = {"experiment": "edge_next_step_effect", "issue": 21, "model": "cinc2017-edge", "split": "train",
              "records": len(ids), "every": args.every, "peaks_on_post_wide": peaks_total, "steps": STEPS,
              "change_vs_on_post_wide": change, "cpu_seconds": seconds}
    return finish(result, "experiments/edge/next_step_effect.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""Issue 21 run s38, why the T-wave check's port (``edge_t_wave_port.json``, not kept) parts from the Python path: the
Python path runs its guard at the record's rate (300 Hz for CinC 2017: ``rpeaks.find_rpeaks`` detects at
``target_fs`` but maps the peaks back and guards them on the 300 Hz cleaned signal), the graph at ``target_fs`` (100 Hz)
on its FIR copy. This look keeps the filter and the peaks and changes only the rate: ``rpeak_guard.t_wave_like`` (the
kept peaks against themselves, ``s37_first``'s 0.9, ``t_wave_size`` 4) on the Python path's final peaks at
``gap_port.py``'s "on_post_wide" and its 300 Hz cleaned signal, against the same on that signal resampled to 100 Hz
(``signal.resample``) with the peaks at round(p / 3); the flagged peaks matched at 50 ms. CinC 2017 training records
(the presets' split; never the validation records), every ``--every``-th.

    python experiments/edge/t_wave_rate_look.py --every 5 --out benchmarks/results/edge_t_wave_rate_look.json

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    from ecgsl_keras.data import rpeak_guard
    from ecgsl_keras.data import signal as signal_lib
    from look_output import finish
    from training_look import rate_look_counts, training_look

    args, sc, reader, ids = training_look(__doc__, argv)
    step = dataclasses.replace(sc, rpeak_guard_t_wave=0.9, rpeak_guard_constants={
        **dict(sc.rpeak_guard_constants), "t_wave_size": 4.0, "t_wave_all": True})
    constants = rpeak_guard.constants_for(step)
    def step_at_both_rates(peaks, x, fs, target):
        cleaned = signal_lib.clean(x, fs, sc.clean_method)
        native = peaks[rpeak_guard.t_wave_like(peaks, peaks, cleaned, fs, 0.9, constants)]
        low = np.unique(np.rint(peaks * (target / fs)).astype(np.int64))
        at_100 = low[rpeak_guard.t_wave_like(low, low, signal_lib.resample(cleaned, fs, target), target, 0.9, constants)]
        return native, at_100

    counts = rate_look_counts(ids, reader, sc, step_at_both_rates, "flagged")
    result = {"experiment": "edge_t_wave_rate_look", "issue": 21, "model": "cinc2017-edge", "split": "train",
              "records": len(ids), "every": args.every, "tolerance_ms": 50, "counts": counts,
              "share_of_native_flags_also_at_100hz": counts["both"] / max(counts["flagged_native"], 1)}
    return finish(result, "experiments/edge/t_wave_rate_look.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

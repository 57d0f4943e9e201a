"""Issue 21 run s39, why the second proposer's port (``edge_second_proposer_port.json``) parts from the Python path more
than the graph's other steps: the Python path runs its guard, the second proposer included, at the record's rate (300 Hz
for CinC 2017: ``rpeaks.find_rpeaks`` detects at ``target_fs`` but guards on the 300 Hz cleaned and detection signals),
the graph at ``target_fs`` (100 Hz). This look keeps the filters and the peaks and changes only the rate:
``rpeak_guard.second_proposer`` (run s58's 0.5 and ``second_amplitude`` 0.1) on the Python path's final peaks at
"on_post_wide_first" with the 300 Hz cleaned and detection signals, against the same on both signals resampled to
100 Hz (``signal.resample``) with the peaks at round(p / 3); the peaks each adds matched at 50 ms. A look that chooses
nothing (as ``t_wave_rate_look.py``). CinC 2017 training records (the presets' split; never the validation records),
every ``--every``-th.

    python experiments/edge/second_proposer_rate_look.py --every 5 --out benchmarks/results/edge_second_proposer_rate_look.json

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
    from second_proposer_port import SECOND, SECOND_CONSTANTS
    from look_output import finish
    from training_look import rate_look_counts, training_look

    args, sc, reader, ids = training_look(__doc__, argv)
    sc = dataclasses.replace(sc, rpeak_keep_first_beat=True)        # "on_post_wide_first"
    step = dataclasses.replace(sc, **SECOND, rpeak_guard_constants={**dict(sc.rpeak_guard_constants), **SECOND_CONSTANTS})
    def step_at_both_rates(peaks, x, fs, target):
        cleaned = signal_lib.clean(x, fs, sc.clean_method)
        detect = signal_lib.clean(x, fs, sc.rpeak_clean_method or sc.clean_method)
        native = np.setdiff1d(rpeak_guard.second_proposer(peaks, cleaned, detect, fs, step), peaks)
        low = np.unique(np.rint(peaks * (target / fs)).astype(np.int64))
        at_100 = np.setdiff1d(rpeak_guard.second_proposer(low, signal_lib.resample(cleaned, fs, target),
                                                          signal_lib.resample(detect, fs, target), target, step), low)
        return native, at_100

    counts = rate_look_counts(ids, reader, sc, step_at_both_rates, "added")
    result = {"experiment": "edge_second_proposer_rate_look", "issue": 21, "run": "s39", "model": "cinc2017-edge",
              "split": "train", "records": len(ids), "every": args.every, "tolerance_ms": 50, "counts": counts,
              "share_of_native_additions_also_at_100hz": counts["both"] / max(counts["added_native"], 1),
              "share_of_100hz_additions_not_native": 1 - counts["both"] / max(counts["added_100hz"], 1)}
    return finish(result, "experiments/edge/second_proposer_rate_look.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

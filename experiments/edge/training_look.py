"""The command line and records of the edge looks on the CinC 2017 training records (``next_step_effect.py``,
``t_wave_rate_look.py``, ``second_proposer_rate_look.py``): one place for their options, the Python path's signal
config they start from (``gap_port.py``'s point "on_post_wide"), the split (``prepare.assign_splits``, seed 42, the
presets' split: never the validation records the agreement is measured on) and the rate looks' loop
(``rate_look_counts``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def training_look(doc: str, argv=None) -> tuple:
    """(the parsed ``--cinc``, ``--every``, ``--out``; the ``SignalConfig`` of ``gap_port.py``'s "on_post_wide"; the
    CinC 2017 reader; every ``--every``-th training record id in sort order). ``doc``'s first line describes the
    command."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.prepare import assign_splits
    from gap_port import _configs
    from experiments.shared_data import CINC2017

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--cinc", default=str(CINC2017))
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    _, _, configs = _configs()
    reader = open_dataset("cinc2017", args.cinc)
    splits = assign_splits(reader, "cinc2017", "default", 0.2, 42)
    ids = sorted(r for r, s in splits.items() if s == "train")[::args.every]
    return args, configs["on_post_wide"].signal, reader, ids


def rate_look_counts(ids, reader, sc, step, kind: str) -> dict:
    """The rate looks' counts over the records ``ids``: ``step(peaks, x, fs, target)`` returns the peaks a guard step
    gives at the record's rate ``fs`` and at ``target_fs`` (``(native, at_target)``, each at its own rate) from the
    Python path's final peaks (``signal.find_rpeaks`` with ``sc``; records with under 3 are skipped); they are matched
    at 50 ms. Keys ``{kind}_native``, ``{kind}_100hz``, ``both``, ``records_native``, ``records_100hz``,
    ``records_differ``, ``peaks``."""
    import numpy as np

    from ecgsl_keras.data import signal as signal_lib

    target = float(sc.target_fs)
    tol = int(round(0.05 * target))
    counts = {f"{kind}_native": 0, f"{kind}_100hz": 0, "both": 0, "records_native": 0, "records_100hz": 0,
              "records_differ": 0, "peaks": 0}
    for i, rid in enumerate(ids):
        record = reader.load(rid)
        x, fs = np.asarray(record.lead(), np.float64), float(record.fs)
        peaks = signal_lib.find_rpeaks(x, fs, sc)
        if peaks.size < 3:
            continue
        native, at_target = step(peaks, x, fs, target)
        m = signal_lib.match_peaks(np.rint(native * (target / fs)).astype(np.int64), at_target, tol)
        counts["peaks"] += int(peaks.size)
        counts[f"{kind}_native"] += int(native.size)
        counts[f"{kind}_100hz"] += int(at_target.size)
        counts["both"] += int(m["tp"])
        counts["records_native"] += int(native.size > 0)
        counts["records_100hz"] += int(at_target.size > 0)
        counts["records_differ"] += int(m["fn"] > 0 or m["fp"] > 0)
        if (i + 1) % 200 == 0:
            print(f"{i + 1} / {len(ids)}", counts, file=sys.stderr)
    return counts

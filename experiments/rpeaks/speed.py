"""Detection speed and effect of the R-peak guard on CinC 2017 records (the data prepare runs on).

    python experiments/rpeaks/speed.py --data-dir /work/shared/data/cinc2017/training2017 --limit 500 \\
        --out benchmarks/results/rpeaks_guard_cinc2017.json

For the first ``--limit`` records of ``RECORDS``: ``signal.find_rpeaks`` with the legacy settings
(``bench.rpeaks.LEGACY``) and with the default (guarded) settings, interleaved record by record so
that both see the same machine load; the cleaned signal is computed once, outside the clock, as
``preprocess`` does. Reported: records/s of each, and how many peaks the guard removed and added
(records changed, per label), and how many added peaks fall inside an ordinary RR interval
(suspect: a T wave) rather than in a long gap (a missed beat).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from ecgsl_keras.data import signal as S
from ecgsl_keras.bench.rpeaks import LEGACY
from ecgsl_keras.config import SignalConfig


def main(argv=None):
    import wfdb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--out")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override SignalConfig fields of the guarded detector, e.g. rpeak_searchback=1.5")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    ids = [l.strip() for l in (data_dir / "RECORDS").read_text().splitlines() if l.strip()][:args.limit]
    labels = dict(l.strip().split(",") for l in (data_dir / "REFERENCE.csv").read_text().splitlines() if l.strip())
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    new, old = dataclasses.replace(SignalConfig(), **overrides), dataclasses.replace(SignalConfig(), **LEGACY)
    S.find_rpeaks(np.sin(np.linspace(0, 20 * np.pi, 3000)), 300.0, new)
    seconds = {"legacy": 0.0, "guarded": 0.0}
    removed = added = changed = beats_old = split = 0
    per_label = {}
    for i, rid in enumerate(ids):
        record = wfdb.rdrecord(str(data_dir / rid))
        x, fs = record.p_signal[:, 0].astype(np.float64), float(record.fs)
        cleaned = S.clean(x, fs)
        order = ("legacy", "guarded") if i % 2 == 0 else ("guarded", "legacy")
        peaks = {}
        for name in order:
            start = time.perf_counter()
            peaks[name] = S.find_rpeaks(x, fs, old if name == "legacy" else new, cleaned=cleaned)
            seconds[name] += time.perf_counter() - start
        gone = np.setdiff1d(peaks["legacy"], peaks["guarded"]).size
        new_peaks = np.setdiff1d(peaks["guarded"], peaks["legacy"])
        came = new_peaks.size
        legacy = peaks["legacy"]
        if came and legacy.size >= 3:
            # an added peak inside an ordinary RR interval (< 1.4 x the record's median) is suspect
            # (a T wave); one inside a long gap is most likely a beat the legacy detector missed
            j = np.clip(np.searchsorted(legacy, new_peaks), 1, legacy.size - 1)
            gap = (legacy[j] - legacy[j - 1]) / np.median(np.diff(legacy))
            split += int(np.sum(gap < 1.4))
        removed, added, beats_old = removed + gone, added + came, beats_old + peaks["legacy"].size
        changed += bool(gone or came)
        row = per_label.setdefault(labels.get(rid, "?"), {"records": 0, "changed": 0, "removed": 0, "added": 0})
        row["records"] += 1
        row["changed"] += bool(gone or came)
        row["removed"] += gone
        row["added"] += came
    result = {"experiment": "rpeaks_guard_speed_cinc2017", "records": len(ids), "overrides": overrides,
              "records_per_second": {k: len(ids) / v for k, v in seconds.items()},
              "slowdown": seconds["guarded"] / seconds["legacy"],
              "peaks_legacy": beats_old, "peaks_removed_by_guard": removed, "peaks_added_by_guard": added,
              "added_inside_an_ordinary_rr_interval": split,
              "records_changed": changed, "per_label": per_label,
              "note": "peaks moved by a few samples count as one removed + one added"}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""What ``SignalConfig.rpeak_mindelay_keep="prominent"`` changes on CinC 2017 records (no beat annotations; issue 21).

    python experiments/rpeaks/prominent_cinc.py --data-dir /work/shared/data/cinc2017/training2017 --limit 500 \\
        > benchmarks/results/rpeaks_prominent_cinc2017.json

For the first ``--limit`` records of ``RECORDS``: ``signal.find_rpeaks`` with the default settings and with the
prominent refractory rule. Reported: records changed, peaks removed / added, and for each added peak with a removed
one within 0.3 s (the rule chose another peak of a close pair), whether the kept peak has the larger QRS amplitude
(peak-to-peak of the cleaned signal within 50 ms: a QRS rather than a P or T wave) and whether it lies after the
removed one (later: T-wave side), per label; ``replaced_far``: the pairs over 60 ms apart (another wave, not the
same QRS moved by a few samples), ``replaced_far_by_later_smaller_qrs`` the suspect ones (a T wave kept for a QRS).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import signal as S


def cinc_records(doc: str, argv=None) -> tuple:
    """The command line of the CinC scripts here (``--data-dir``, ``--limit``): (args, the first ``--limit`` ids of
    ``RECORDS``, id -> label of ``REFERENCE.csv``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--limit", type=int, default=500)
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir)
    ids = [l.strip() for l in (data_dir / "RECORDS").read_text().splitlines() if l.strip()][:args.limit]
    labels = dict(l.strip().split(",") for l in (data_dir / "REFERENCE.csv").read_text().splitlines() if l.strip())
    return args, ids, labels


def read_cleaned(data_dir, rid) -> tuple:
    """(signal in mV as float64, fs, ``signal.clean`` of it) of CinC record ``rid``."""
    import wfdb

    record = wfdb.rdrecord(str(Path(data_dir) / rid))
    x, fs = record.p_signal[:, 0].astype(np.float64), float(record.fs)
    return x, fs, S.clean(x, fs)


def main(argv=None):
    args, ids, labels = cinc_records(__doc__, argv)
    today, prominent = SignalConfig(), SignalConfig(rpeak_mindelay_keep="prominent")
    totals = {"records": 0, "changed": 0, "peaks_today": 0, "removed": 0, "added": 0, "replaced": 0,
              "replaced_by_larger_qrs": 0, "replaced_by_later": 0, "replaced_far": 0, "replaced_far_by_larger_qrs": 0,
              "replaced_far_by_later_smaller_qrs": 0, "added_alone": 0}
    per_label = {}
    for rid in ids:
        x, fs, cleaned = read_cleaned(args.data_dir, rid)
        a = S.find_rpeaks(x, fs, today, cleaned=cleaned)
        b = S.find_rpeaks(x, fs, prominent, cleaned=cleaned)
        gone, came = np.setdiff1d(a, b), np.setdiff1d(b, a)
        row = per_label.setdefault(labels.get(rid, "?"), dict.fromkeys(totals, 0))
        counts = {"records": 1, "changed": int(bool(gone.size or came.size)), "peaks_today": int(a.size),
                  "removed": int(gone.size), "added": int(came.size)}
        delay = int(round(today.rpeak_mindelay_s * fs))
        for p in came:
            near = gone[np.abs(gone - p) <= delay]
            if near.size:
                q = near[np.argmin(np.abs(near - p))]
                amp = S.qrs_amplitudes(cleaned, np.array([p, q]), fs)
                counts["replaced"] = counts.get("replaced", 0) + 1
                counts["replaced_by_larger_qrs"] = counts.get("replaced_by_larger_qrs", 0) + int(amp[0] > amp[1])
                counts["replaced_by_later"] = counts.get("replaced_by_later", 0) + int(p > q)
                if abs(p - q) > 0.06 * fs:   # another wave, not the same QRS moved a few samples
                    counts["replaced_far"] = counts.get("replaced_far", 0) + 1
                    counts["replaced_far_by_larger_qrs"] = counts.get("replaced_far_by_larger_qrs", 0) + int(amp[0] > amp[1])
                    counts["replaced_far_by_later_smaller_qrs"] = (counts.get("replaced_far_by_later_smaller_qrs", 0)
                                                                   + int(p > q and amp[0] <= amp[1]))
            else:
                counts["added_alone"] = counts.get("added_alone", 0) + 1
        for key, value in counts.items():
            totals[key] += value
            row[key] += value
    print(json.dumps({"experiment": "rpeaks_prominent_cinc2017", "records": len(ids), "totals": totals,
                      "per_label": per_label,
                      "command": "python experiments/rpeaks/prominent_cinc.py --data-dir path/to/training2017 --limit %d" % args.limit,
                      "note": "peaks moved by a few samples count as one removed + one added"}))


if __name__ == "__main__":
    main()

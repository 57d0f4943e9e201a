"""Run s54 (issue 21): the false beats run s54's pair rule (``rpeak_minimum_gap_pair`` = 0.6 on run s51's point) adds
against run s51's point in MIT-BIH 108, traced. A HELD-OUT look after run s54's counts (108's counts are its own
fold's held-out ones), so NOT blind; it chooses nothing and aims the next lever.

    python experiments/rpeaks/gap_pair_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s54_108_look.json

On 108's four built rhythms (block21: seed 108 + 0, run s47's builder), for each false beat the pair point adds: its
distance to the next and the previous final peak (ms; a P wave sits 0.15-0.3 s before its QRS), whether that
neighbour is a true beat and a gap peak (a pair peak held out of the guard), and its QRS amplitude over the guard's
reference (``rpeak_guard.qrs_shapes`` / ``amplitude_reference``). Prints one JSON object last.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_seam import JOINS  # noqa: E402
from cluster import RHYTHMS, TODAY, match, rhythm_signals  # noqa: E402
from look_cli import look_parser  # noqa: E402
from minimum_gap import S51_POINT, final_peaks, points  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402

RECORD = "108"
PAIR = 0.6


def detect(built, fs, cleaned, detect_signal, config, constants, options):
    """(final peaks, the gap's minima) at ``options`` on top of ``config`` (``minimum_gap.final_peaks``)."""
    _, added, peaks = final_peaks(built, fs, cleaned, detect_signal, dataclasses.replace(config, **options), constants,
                                  options)
    return peaks, added


def main(argv=None) -> int:
    argv, parser = look_parser(argv, __doc__)
    args = parser.parse_args(argv)
    _, config, constants, _ = next(points("s48"))
    rows = []
    signals = [(r, dict(names=(r,))) for r in RHYTHMS if r != "block21"] + [("block21", dict(
        names=("block21",), t_end_s=None, join_edge_s=JOINS["new"], seed_offset=0))]
    for rhythm, kwargs in signals:
        for _, built, fs, cleaned, det in rhythm_signals(args.data_dir, RECORD, {f"{RECORD}|{rhythm}|{TODAY}": 0},
                                                         **kwargs):
            base, _ = detect(built, fs, cleaned, det, config, constants, S51_POINT)
            peaks, added = detect(built, fs, cleaned, det, config, constants, dict(S51_POINT, rpeak_minimum_gap_pair=PAIR))
            _, _, _, _, false0 = match(built, base, fs)
            _, _, _, hit, false = match(built, peaks, fs)
            amp = G.qrs_shapes(cleaned, peaks, fs)[0]
            beats = built["beats"]
            tol = int(round(0.15 * fs))
            for a in sorted(false - false0):
                j = int(np.searchsorted(peaks, a))
                nxt = int(peaks[j + 1]) if j + 1 < peaks.size else None
                prv = int(peaks[j - 1]) if j > 0 else None
                ref = G.amplitude_reference(np.delete(peaks, j), np.delete(amp, j), peaks[j:j + 1])[0]
                true = lambda p: p is not None and bool(np.min(np.abs(beats - p)) <= tol)  # noqa: E731
                rows.append({"rhythm": rhythm, "sample": int(a), "t_s": round(a / fs, 2),
                             "next_ms": round(1000.0 * (nxt - a) / fs, 1) if nxt is not None else None,
                             "next_true": true(nxt), "next_is_gap_peak": nxt in set(added.tolist()),
                             "prev_ms": round(1000.0 * (a - prv) / fs, 1) if prv is not None else None,
                             "prev_true": true(prv), "in_base": bool(a in set(base.tolist())),
                             "amplitude": round(float(amp[j] / ref), 2)})
    n = len(rows)
    result = {"experiment": "rpeaks_s54_108_look", "command": " ".join(["python", "experiments/rpeaks/gap_pair_look.py"]
                                                                     + argv),
              "blind": False, "record": RECORD, "pair": PAIR, "against": "run s51's point", "false_added": n,
              "per_rhythm": dict(collections.Counter(r["rhythm"] for r in rows)),
              "before_a_gap_peak_true_beat_within_300ms": sum(r["next_is_gap_peak"] and r["next_true"]
                                                              and r["next_ms"] is not None and r["next_ms"] <= 300
                                                              for r in rows),
              "next_ms_min_median_max": [round(float(np.percentile([r["next_ms"] for r in rows if r["next_ms"]], q)), 1)
                                         for q in (0, 50, 100)] if n else None,
              # where a P wave would be: up to 0.3 s before a true beat
              "before_a_true_beat_within_300ms": {
                  "n": len(close := [r for r in rows if r["next_true"] and r["next_ms"] is not None
                                     and r["next_ms"] <= 300]),
                  "next_ms_min_max": [min(r["next_ms"] for r in close), max(r["next_ms"] for r in close)] if close else None,
                  "amplitude_min_max": [min(r["amplitude"] for r in close), max(r["amplitude"] for r in close)]
                  if close else None},
              "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

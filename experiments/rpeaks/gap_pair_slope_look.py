"""Run s56 (issue 21): what the shape of run s54's pairs looks like where the rule sees them. A HELD-OUT look after run
s56's counts (each record's counts are its own fold's held-out ones), so NOT blind; it chooses nothing and aims the next
lever.

    python experiments/rpeaks/gap_pair_slope_look.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s56_pair_shape_look.json

On the four built rhythms of 108 (whose false beats run s54's pair adds) and of 203 and 215 (whose beats it finds),
block21 at seed record + 0, the primary detector at run s54's point (``_findpeaks_neurokit`` with ``gap_pair`` = 0.6 on
the detector's signal) is run as ``find_rpeaks`` runs it, and every gap peak that is a region MAXIMUM kept beside the
peak before it (a pair) is listed with that earlier peak: whether each is within 150 ms of a reference beat, and the
measures a shape test could read, on the guard's signal at the detector's positions -- the steepest slope ratio
earlier / later (run s56's test), the sharpness (slope over amplitude) ratio, the width ratio (``qrs_shapes``), and the
correlation of the earlier peak's +-60 ms window with the later peak's and with the median window of the record's
primary peaks (``qrs_windows``). Pairs whose earlier peak is not a beat and whose later one is are the P-wave kind
(run s54's 108 look); pairs of two beats are the couplets the rule finds. Prints one JSON object last.
"""
from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from block21_seam import JOINS  # noqa: E402
from cluster import RHYTHMS, TODAY, primary_config, rhythm_signals  # noqa: E402
from look_cli import look_parser  # noqa: E402
from minimum_gap import S54_PAIR_POINT  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402
from ecgsl_keras.data import rpeaks as R  # noqa: E402

RECORDS = ("108", "203", "215")
MEASURES = ("slope_ratio", "sharpness_ratio", "width_ratio", "corr_with_later", "corr_with_median")


def pairs(built, fs, cleaned, detect):
    """The pairs run s54's rule keeps in the primary detector: ``[(earlier, later), ...]`` (detector samples)."""
    config = primary_config(rpeak_keep_first_beat=True, **{k: v for k, v in S54_PAIR_POINT.items()
                                                           if k.startswith("rpeak_minimum_gap_") and k not in (
                                                               "rpeak_minimum_gap_final",
                                                               "rpeak_minimum_gap_after_guard")})
    added = []
    peaks = R._findpeaks_neurokit(detect, fs, mindelay=config.rpeak_mindelay_s, keep=config.rpeak_mindelay_keep,
                                  keep_first_beat=True, minimum_gap=config.rpeak_minimum_gap_s,
                                  gap_pair=config.rpeak_minimum_gap_pair, gap_added=added)
    delay = int(round(config.rpeak_mindelay_s * fs))
    out = []
    for p in added:
        j = int(np.searchsorted(peaks, p))
        # a maximum: the detector's signal is higher there than 20 ms either side (a gap minimum is lower)
        w = int(round(0.02 * fs))
        if j == 0 or p - peaks[j - 1] > delay or not detect[p] >= max(detect[max(p - w, 0)], detect[min(p + w, detect.size - 1)]):
            continue
        out.append((int(peaks[j - 1]), int(p)))
    return out, peaks


def main(argv=None) -> int:
    argv, parser = look_parser(argv, __doc__)
    args = parser.parse_args(argv)
    rows = []
    for rid in RECORDS:
        signals = [(r, dict(names=(r,))) for r in RHYTHMS if r != "block21"] + [("block21", dict(
            names=("block21",), t_end_s=None, join_edge_s=JOINS["new"], seed_offset=0))]
        for rhythm, kwargs in signals:
            for _, built, fs, cleaned, detect in rhythm_signals(args.data_dir, rid, {f"{rid}|{rhythm}|{TODAY}": 0},
                                                                **kwargs):
                found, primary = pairs(built, fs, cleaned, detect)
                if not found:
                    continue
                beats = np.asarray(built["beats"], np.int64)
                tol = int(round(0.15 * fs))
                beat = lambda p: bool(np.min(np.abs(beats - p)) <= tol)  # noqa: E731
                earlier = np.asarray([a for a, _ in found], np.int64)
                later = np.asarray([b for _, b in found], np.int64)
                amp_e, sharp_e, width_e = G.qrs_shapes(cleaned, earlier, fs)
                amp_l, sharp_l, width_l = G.qrs_shapes(cleaned, later, fs)
                win_e = G.qrs_windows(cleaned, earlier, fs, 0.06)
                win_l = G.qrs_windows(cleaned, later, fs, 0.06)
                median = np.median(G.qrs_windows(cleaned, primary, fs, 0.06), axis=0)
                median = median - median.mean()
                median = median / max(float(np.linalg.norm(median)), 1e-12)
                for k, (a, b) in enumerate(found):
                    kind = ("p_wave_kind" if not beat(a) and beat(b) else "couplet" if beat(a) and beat(b)
                            else "other")
                    rows.append({"record": rid, "rhythm": rhythm, "earlier": a, "later": b, "kind": kind,
                                 "gap_ms": round(1000.0 * (b - a) / fs, 1),
                                 "slope_ratio": round(float(amp_e[k] * sharp_e[k] / (amp_l[k] * sharp_l[k])), 3),
                                 "sharpness_ratio": round(float(sharp_e[k] / sharp_l[k]), 3),
                                 "width_ratio": round(float(width_e[k] / width_l[k]), 3),
                                 "amplitude_ratio": round(float(amp_e[k] / amp_l[k]), 3),
                                 "corr_with_later": round(float(win_e[k] @ win_l[k]), 3),
                                 "corr_with_median": round(float(win_e[k] @ median), 3)})
    summary = {}
    for kind in ("p_wave_kind", "couplet", "other"):
        sel = [r for r in rows if r["kind"] == kind]
        summary[kind] = {"n": len(sel), "per_record": dict(collections.Counter(r["record"] for r in sel)),
                         **{f"{m}_min_q25_median_q75_max": ([round(float(q), 3) for q in np.percentile(
                             [r[m] for r in sel], [0, 25, 50, 75, 100])] if sel else None)
                            for m in (*MEASURES, "amplitude_ratio")}}
    result = {"experiment": "rpeaks_s56_pair_shape_look",
              "command": " ".join(["python", "experiments/rpeaks/gap_pair_slope_look.py"] + argv),
              "blind": False, "records": list(RECORDS), "block21_seed": "record + 0", "point": "run s54's p = 0.6",
              "summary": summary, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

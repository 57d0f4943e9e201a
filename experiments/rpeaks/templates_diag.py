"""Run s36 (issue 21) diagnosis: which of the two levers named at the last stop the counts at run s33's most chosen point
(``most_chosen`` of benchmarks/results/rpeaks_loro_s33.json) say can close more of the distance, on MIT-BIH DS1 and
the rhythms built from it (``bench.rhythms.build``, seed = record number; counted as ``bench rpeaks``, 150 ms).

    python experiments/rpeaks/templates_diag.py --data-dir /work/shared/data/mitdb --out benchmarks/results/rpeaks_s36_diagnosis.json

1. **Record-wide morphologies** (``missed``): for each missed beat of block21 and bigeminy, its QRS window (+-60 ms
   about the largest deflection within 50 ms of the annotation, mean removed, as ``qrs_windows``) against the kept
   peaks': ``local`` when at least cluster_min (2) of the cluster_neighbours (16) kept peaks each side correlate
   >= 0.9 with it (the cluster rescue's view), ``record`` when at least 5 kept peaks anywhere in the record do.
   ``not_local_but_record``: the misses a record-wide template could reach and the cluster rescue cannot.
2. **A noise cue for block21's cut spans** (``noise_cue``): each kept peak's QRS amplitude (``qrs_amplitudes``) over
   the 99th percentile of the peak-to-peak of the record's between-beat windows of the same length (0.45 s after a
   kept peak to 0.3 s before the next, as a guard would see them), over the guard's reference (``arel``, 75th percentile of the 8 kept
   peaks each side) and the number of the 16 kept peaks each side whose QRS window correlates >= 0.8 with its own
   (``like``); quantiles for the false beats inside the cut spans (from the cut to 450 ms after the removed
   annotation) and for the kept true beats under 0.6 x the reference; and what the rule "``arel`` < 0.6, ``like``
   < L, noise ratio < N" would drop (true / false beats per rhythm).
Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
from pathlib import Path

import numpy as np

from ecgsl_keras import tasks
from ecgsl_keras.data import rpeak_guard as G

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import blocked_p_diag as D  # noqa: E402

log = logging.getLogger("experiments.rpeaks.templates_diag")
RHYTHMS = ("normal", "block21", "pause", "bigeminy")
RULES = [(2, 1.5), (2, 2.0), (2, 3.0), (4, 2.0)]        # (like under, noise ratio under) at arel < 0.6


def _q(v):
    v = np.asarray(v, float)
    return None if v.size == 0 else {str(q): round(float(np.percentile(v, q)), 3) for q in (1, 5, 25, 50, 75, 95)}


def noise_ptp(x, true_peaks, fs):
    half = max(1, int(round(G.GUARD.qrs_half_width_s * fs)))
    w, vals = 2 * half + 1, []
    for a, b in zip(true_peaks[:-1], true_peaks[1:]):
        s, e = a + int(0.45 * fs), b - int(0.3 * fs)
        n = (e - s) // w
        if n >= 1:
            vals.append(np.ptp(x[s:s + n * w].reshape(n, w), axis=1))
    return np.concatenate(vals) if vals else np.ones(1)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    name, config, constants = D.s33_point()
    n = constants.cluster_neighbours
    missed = {r: collections.Counter() for r in ("block21", "bigeminy")}
    missed_203 = {r: collections.Counter() for r in ("block21", "bigeminy")}
    feats = {r: collections.defaultdict(list) for r in RHYTHMS}
    drops = {f"like<{a}_noise<{b}": {r: [0, 0] for r in RHYTHMS} for a, b in RULES}
    for rid in tasks.MITDB_DS1:
        for rhythm in RHYTHMS:
            b = D.run_signal(args.data_dir, rid, rhythm, config, constants)
            x, fs, peaks, m, built = b["x"], b["fs"], b["peaks"], b["m"], b["built"]
            beats = built["beats"]
            kept_true = np.zeros(peaks.size, bool)
            kept_true[m["matched"][:, 1]] = True
            windows = G.qrs_windows(x, peaks, fs, constants.cluster_window_s)
            if rhythm in missed:
                fn = np.setdiff1d(np.arange(beats.size), m["matched"][:, 0])
                if fn.size:
                    r = int(0.05 * fs)
                    idx = np.clip(beats[fn][:, None] + np.arange(-r, r + 1)[None, :], 0, x.size - 1)
                    at = idx[np.arange(fn.size), np.abs(x[idx] - np.median(x[idx], axis=1, keepdims=True)).argmax(axis=1)]
                    corr = G.qrs_windows(x, at, fs, constants.cluster_window_s) @ windows.T >= 0.9
                    for i, a in enumerate(at):
                        k = np.searchsorted(peaks, a)
                        local = corr[i, max(0, k - n):k + n].sum() >= constants.cluster_min
                        record = corr[i].sum() >= 5
                        key = ("local" if local else "not_local") + ("_record" if record else "_not_record")
                        missed[rhythm][key] += 1
                        if rid == "203":
                            missed_203[rhythm][key] += 1
            amplitude = G.qrs_amplitudes(x, peaks, fs)
            arel = amplitude / G._neighbour_percentile(peaks, amplitude, peaks, constants.neighbours, constants.percentile)
            ratio = amplitude / np.percentile(noise_ptp(x, peaks, fs), 99)
            index = np.arange(peaks.size)[:, None] + np.concatenate([np.arange(-n, 0), np.arange(1, n + 1)])[None, :]
            valid = (index >= 0) & (index < peaks.size)
            like = (valid & (np.einsum("ij,ikj->ik", windows, windows[np.clip(index, 0, peaks.size - 1)]) >= 0.8)).sum(axis=1)
            in_cut = np.zeros(peaks.size, bool)
            if rhythm == "block21" and built["removed"].size:
                removed = np.sort(built["removed"])
                start = removed - int(round(built["qrs_before_s"] * fs))
                stop = removed + int(round(0.45 * fs))
                j = np.searchsorted(start, peaks, side="right") - 1
                in_cut = (j >= 0) & (peaks <= stop[np.clip(j, 0, None)])
            small_true = kept_true & (arel < 0.6)
            feats[rhythm]["ratio_true_small"] += list(ratio[small_true])
            feats[rhythm]["like_true_small"] += list(like[small_true])
            feats[rhythm]["ratio_fp_cut"] += list(ratio[~kept_true & in_cut])
            feats[rhythm]["like_fp_cut"] += list(like[~kept_true & in_cut])
            feats[rhythm]["arel_fp_cut"] += list(arel[~kept_true & in_cut])
            for a, c in RULES:
                drop = (arel < 0.6) & (like < a) & (ratio < c)
                drops[f"like<{a}_noise<{c}"][rhythm][0] += int((drop & kept_true).sum())
                drops[f"like<{a}_noise<{c}"][rhythm][1] += int((drop & ~kept_true).sum())
        log.info("%s: missed %s", rid, {r: dict(v) for r, v in missed.items()})
    result = {"experiment": "rpeaks_s36_diagnosis", "point": name, "records": list(tasks.MITDB_DS1),
              "command": " ".join(["python", "experiments/rpeaks/templates_diag.py"] + list(argv if argv is not None else sys.argv[1:])),
              "missed": {r: dict(v) for r, v in missed.items()},
              "missed_203": {r: dict(v) for r, v in missed_203.items()},
              "noise_cue": {"quantiles": {r: {k: _q(v) for k, v in f.items() if len(v)} for r, f in feats.items()},
                            "fp_cut_count": len(feats["block21"]["ratio_fp_cut"]),
                            "fp_cut_like_at_least_16": int(np.sum(np.asarray(feats["block21"]["like_fp_cut"]) >= 16)),
                            "rule_drops_true_false": drops}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("missed", "missed_203")} | {"drops": drops}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

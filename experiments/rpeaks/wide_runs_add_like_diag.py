"""Run s42, training-side diagnosis (records 201 and 203 only; no held-out figure): why the shape check of an added
peak (``SignalConfig.rpeak_run_add_like``) leaves record 201's added false beats. For the additive pass over every
wide peak's span (threshold 1.3, shortest region 0.4, ``GuardConstants.run_rr_s`` = 0) on run s37's point with
``rpeak_keep_first_beat``: per record and rhythm, the first pass's wide peaks (and how many are false) and the
second pass's added peaks (before the guard) that are beats / false, with the 10th / 50th / 90th percentiles of their
best QRS-window correlation with the wide peaks' median window (shifted up to +-``run_add_shift_s``) and of their
width, sharpness and amplitude over the wide peaks' medians (``rpeak_guard.qrs_shapes``).

    python experiments/rpeaks/wide_runs_add_like_diag.py --data-dir /work/shared/data/mitdb \\
        --out benchmarks/results/rpeaks_s42_add_like_diag.json

Prints one JSON object last.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import wide_runs_add_like as W  # noqa: E402
from cluster import guard_constants, match, primary_config, rhythm_signals  # noqa: E402

from ecgsl_keras.data import rpeak_guard as G  # noqa: E402
from ecgsl_keras.data import signal as S  # noqa: E402


def quantiles(values):
    return np.percentile(values, [10, 50, 90]).round(2).tolist() if len(values) else []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    name, config, constants, _ = next(p for p in W.points() if p[0].endswith("_ml0.4_every"))
    result = {"experiment": "rpeaks_s42_add_like_diag", "training_side_probe": True, "point": name,
              "note": "records 201 and 203 only; added peaks before the guard; ratios over the first pass's wide peaks",
              "per_rhythm": {}}
    for rid in W.PROBE_RECORDS:
        for rhythm, built, fs, cleaned, _ in rhythm_signals(args.data_dir, rid, {}):
            with guard_constants(constants):
                off = primary_config(rpeak_keep_first_beat=True)
                first = S.find_rpeaks(built["signal"], fs, off, cleaned=cleaned)
                added = S.find_rpeaks(built["signal"], fs, dataclasses.replace(
                    off, rpeak_run_threshold=config.rpeak_run_threshold, rpeak_run_min_length=config.rpeak_run_min_length,
                    rpeak_run_mode="add"), cleaned=cleaned)
            extra = np.setdiff1d(added, first)
            amplitude, sharpness, width = G.qrs_shapes(cleaned, first, fs)
            wide = width >= constants.run_wide * np.median(width)
            false_first = match(built, first, fs)[4]
            windows = G.qrs_windows(cleaned, first[wide], fs, constants.cluster_window_s)
            median = np.median(windows, axis=0)
            median = (median - median.mean()) / max(float(np.linalg.norm(median - median.mean())), 1e-12)
            reach = int(round(constants.run_add_shift_s * fs))
            best = np.max([G.qrs_windows(cleaned, extra + k, fs, constants.cluster_window_s) @ median
                           for k in range(-reach, reach + 1)], axis=0) if extra.size else np.zeros(0)
            e_amp, e_sharp, e_width = G.qrs_shapes(cleaned, extra, fs)
            false = np.isin(extra, list(match(built, extra, fs)[4]))
            entry = {"first": int(first.size), "first_wide": int(wide.sum()),
                     "first_wide_false": int(np.isin(first[wide], list(false_first)).sum()),
                     "median_width_s": round(float(np.median(width)), 4),
                     "wide_median_width_s": round(float(np.median(width[wide])), 4)}
            for label, mask in (("added_beats", ~false), ("added_false", false)):
                entry[label] = int(mask.sum())
                entry[f"{label}_correlation_q"] = quantiles(best[mask])
                entry[f"{label}_width_over_wide_q"] = quantiles(e_width[mask] / np.median(width[wide]))
                entry[f"{label}_sharpness_over_wide_q"] = quantiles(e_sharp[mask] / np.median(sharpness[wide]))
                entry[f"{label}_amplitude_over_wide_q"] = quantiles(e_amp[mask] / np.median(amplitude[wide]))
            result["per_rhythm"][f"{rid}|{rhythm}"] = entry
            print(rid, rhythm, entry, file=sys.stderr, flush=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

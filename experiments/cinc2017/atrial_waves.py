"""af34 (issue 18): atrial-wave columns that tell a sinus P wave from flutter / f waves, for ``af_lever.py``'s
``extra`` step (``--extra-features``). af33 found 29 of 53 out-of-fold AF records called Other with P-waves by the
``atrial`` group's template test; these columns look at the atrial deflections beat by beat instead.

    python experiments/cinc2017/atrial_waves.py --cinc-dir /work/shared/data/cinc2017/training2017 \
        --features experiments/cinc2017/oof/features118.npz --work /work/runs/af34/waves \
        --out experiments/cinc2017/oof/atrial_waves.npz --results experiments/cinc2017/af34_results.json
    python experiments/cinc2017/af_lever.py --features experiments/cinc2017/oof/features118.npz \
        --deep-oof experiments/cinc2017/oof/deep_oof.npz --work WORK --steps base extra \
        --extra-features experiments/cinc2017/oof/atrial_waves.npz --out experiments/cinc2017/af34_results.json
    (then the same with --steps extra --extra-seeds 45 46 47)

For every record of ``--features``' table (training records first, so the CV can start before validation is
done): the package's preprocessing and R-peaks as ``record_features`` has them (``filters.clean`` with the default
``SignalConfig``'s method, ``rpeaks.find_rpeaks`` with the default ``SignalConfig``), the QRST complexes cancelled
with the dominant beats' median template (``record_features._qrst_cancel``, the ``atrial`` group's), then per RR
interval the atrial deflections of the residual (low-passed at 15 Hz) in the TQ window (previous R + 45% of RR or
+ 0.35 s, whichever is shorter, to R - 0.06 s): peaks of |residual| with prominence >= max(0.03 mV, 25% of the
record's median largest deflection), at least 0.12 s apart.

Columns (NaN where undefined: fewer than 4 usable RR intervals, or no interval with a deflection; LightGBM routes
NaN by its learned default direction, so no fill is needed):

``awv_pr_sd_s``            SD across beats of the P-to-R interval (R minus the last deflection before it)
``awv_pr_iqr_s``           its interquartile range (robust to a missed wave)
``awv_single_fraction``    fraction of RR intervals with exactly one atrial deflection in the TQ window
``awv_multi_fraction``     fraction with two or more (flutter 2:1 / 4:1, coarse f waves)
``awv_atrial_rate_ratio``  atrial rate (deflections per second of TQ window) over the ventricular rate
``awv_pr_rr_corr``         correlation of the P-to-R interval with the preceding RR interval (a sinus P is
                           coupled to its QRS: PR independent of RR; an f wave's last deflection is at random)

Cache: one ``.npy`` row per record in WORK/rows (resumable). Timing: ms per record (median / mean / p95) of the
column computation after loading, written to WORK/timing.json and the last stdout JSON line.

Keep rule (fixed before any figure; af_lever's): the columns are kept only if the CV AF F1 (mean over booster
seeds 42-44) rises beyond the larger seed sd of both rows and the CV macro F1 does not drop beyond it, and the same
holds on fresh seeds 45-47 (``extra`` step with ``--extra-seeds 45 46 47``). Validation only if kept.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
from experiments.cinc2017.oof_table import (column_arguments, column_summary, extract_columns, save_results,  # noqa: E402
                                          train_rows)

log = logging.getLogger("atrial_waves")

NAMES = ("awv_pr_sd_s", "awv_pr_iqr_s", "awv_single_fraction", "awv_multi_fraction", "awv_atrial_rate_ratio",
         "awv_pr_rr_corr")
KEEP_RULE = ("kept only if CV AF F1 (mean over booster seeds 42-44) rises beyond the larger seed sd of both rows "
             "and CV macro F1 does not drop beyond it, and the same on fresh seeds 45-47; validation only if kept")


def cleaned_and_peaks(signal, fs):
    """(cleaned signal, R-peaks) of one raw single-lead record (mV) as ``record_features`` has them (``filters.clean``
    with the default ``SignalConfig``'s method, ``rpeaks.find_rpeaks`` with it), or None where the detector fails
    or finds fewer than ``max(MIN_BEATS, 5)`` beats: the start of every QRST cancellation here (af34, af35, af37)."""
    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.data.filters import clean
    from ecgsl_keras.data.record_features import MIN_BEATS
    from ecgsl_keras.data.rpeaks import find_rpeaks

    config = SignalConfig()
    raw = np.asarray(signal, np.float64).reshape(-1)
    cleaned = clean(raw, fs, config.clean_method)
    try:
        peaks = np.unique(np.asarray(find_rpeaks(raw, fs, config, cleaned=cleaned), np.int64))
    except (ValueError, TypeError, IndexError, ZeroDivisionError, FloatingPointError):
        return None
    if peaks.size < max(MIN_BEATS, 5):
        return None
    return cleaned, peaks


def wave_columns(signal, fs) -> np.ndarray:
    """The ``NAMES`` columns of one raw single-lead record (mV)."""
    from scipy.signal import butter, filtfilt, find_peaks

    from ecgsl_keras.data.record_features import MIN_BEATS, _qrst_cancel, _windows, ectopic_mask

    out = np.full(len(NAMES), np.nan)
    got = cleaned_and_peaks(signal, fs)
    if got is None:
        return out
    cleaned, peaks = got
    s = lambda sec: int(round(sec * fs))     # noqa: E731 seconds -> samples
    rr = np.diff(peaks)
    flag = ectopic_mask(rr / fs)
    n = peaks.size
    dominant = np.concatenate([[True], ~flag]) & np.concatenate([~flag, [True]])
    lo, hi = -s(0.30), s(0.60)
    rows, _ = _windows(cleaned, peaks[dominant], lo, hi)
    if rows.shape[0] < MIN_BEATS:
        return out
    residual, _ = _qrst_cancel(cleaned, peaks, np.median(rows, axis=0), -lo, lo, hi)
    b, a = butter(2, 15.0 / (fs / 2), "low")
    residual = filtfilt(b, a, residual)
    # TQ windows: after the T wave of the previous beat to just before this QRS
    windows = []
    for i in range(1, n):
        start = peaks[i - 1] + min(int(0.45 * rr[i - 1]), s(0.35))
        stop = peaks[i] - s(0.06)
        if stop - start >= s(0.10):
            windows.append((i, start, stop))
    if len(windows) < 4:
        return out
    largest = np.median([np.ptp(residual[a0:b0]) for _, a0, b0 in windows])
    prom = max(0.03, 0.25 * float(largest))
    counts, prs, prev_rr, seconds = [], [], [], 0.0
    for i, a0, b0 in windows:
        seg = np.abs(residual[a0:b0] - np.median(residual[a0:b0]))
        found, _ = find_peaks(seg, prominence=prom, distance=s(0.12))
        counts.append(found.size)
        seconds += (b0 - a0) / fs
        if found.size:
            prs.append((peaks[i] - (a0 + found[-1])) / fs)
            prev_rr.append(rr[i - 1] / fs)
    counts = np.asarray(counts)
    out[2] = float(np.mean(counts == 1))
    out[3] = float(np.mean(counts >= 2))
    ventricular = 1.0 / float(np.median(rr / fs))
    out[4] = float(counts.sum() / seconds) / ventricular if seconds > 0 else np.nan
    if len(prs) >= 4:
        prs = np.asarray(prs)
        out[0] = float(np.std(prs))
        out[1] = float(np.subtract(*np.percentile(prs, [75, 25])))
        if np.std(prev_rr) > 0 and np.std(prs) > 0:
            out[5] = float(np.corrcoef(prs, prev_rr)[0, 1])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    column_arguments(p, "atrial_waves")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    got = extract_columns(wave_columns, NAMES, args.features, args.deep_oof, args.cinc_dir, args.work, args.out,
                          args.limit, log)
    X = got["X"]
    result = {"records": len(got["ids"]), "records_done": len(got["done"]), "names": list(NAMES),
              **column_summary(got, NAMES), "keep_rule": KEEP_RULE}
    train, y = train_rows(got)
    if train:
        result["train_class_median"] = {n: {c: round(float(np.nanmedian(X[train][y == c, j])), 4)
                                            for c in sorted(set(y))} for j, n in enumerate(NAMES)}
    if args.results:
        save_results(args.results, "atrial_waves", result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

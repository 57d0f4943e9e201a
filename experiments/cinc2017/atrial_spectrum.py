"""af35 (issue 18): atrial activity after QRST cancellation measured in the FREQUENCY domain (dominant atrial
frequency, organization index, spectral peak sharpness and stability, residual over QRS power; on the whole
residual and on the T-Q stretches only), as extra columns for ``af_lever.py``'s ``extra`` step. af33 found the
53 out-of-fold AF records called Other to be slower, less irregular AF / flutter; af34's beat-by-beat atrial
deflection counts were too noisy. The classical AF / flutter evidence is spectral: f waves put a broad peak at
4-9 Hz into the QRST-cancelled residual, flutter a sharp, steady one at about 4-6 Hz (with harmonics), sinus
rhythm little power there.

    python experiments/cinc2017/atrial_spectrum.py --work /work/runs/s32-cinc-atrial/spectrum \
        --out experiments/cinc2017/oof/atrial_spectrum.npz --results experiments/cinc2017/af35_results.json
    python experiments/cinc2017/af_lever.py --features experiments/cinc2017/oof/features118.npz \
        --deep-oof experiments/cinc2017/oof/deep_oof.npz --work WORK --steps base extra \
        --extra-features experiments/cinc2017/oof/atrial_spectrum.npz --out experiments/cinc2017/af35_results.json
    (then the same with --steps extra --extra-seeds 45 46 47)

The sanity check outside CinC (MIT-BIH DS1 rhythm annotations, not a tuning step) is ``atrial_spectrum_mitdb.py``.

Cancellation (the ``atrial`` group's and af34's, reused): the package's cleaning and R-peaks (``filters.clean``
with the default ``SignalConfig``'s method, ``rpeaks.find_rpeaks`` with the default ``SignalConfig``), the
dominant beats' median template (-0.30 s to +0.60 s around R; beats next to an RR interval that
``record_features.ectopic_mask`` flags left out) subtracted around every beat by ``record_features._qrst_cancel``
(cut at 40% of the RR interval before and 60% after). The residual's QRS zones (R - 0.05 s to R + 0.08 s) are
then bridged by a straight line: the cancellation error there is a spike train at the heart rate whose
harmonics would otherwise be taken for atrial peaks. Spectra: ``scipy.signal.welch``, Hann window.

Columns: ``COLUMNS`` below (name -> (unit, meaning); one place, the results JSON and the npz's ``names`` come
from it). NaN where undefined (``NAN_WHEN``); LightGBM routes NaN by its learned default direction, so no fill.

Cache: one ``.npy`` row per record in WORK/rows (resumable). Timing: ms per record (median / mean / p95) of the
column computation after loading, in WORK/timing.json and the results JSON.

Keep rule (fixed before any figure, af34's / af_lever's, written into the results JSON as ``keep_rule``): the
columns are kept only if the CV AF F1 (mean over booster seeds 42-44) rises beyond the larger seed sd of both rows
and the CV macro F1 does not drop beyond it, AND the same holds on fresh seeds 45-47 (``extra`` step with
``--extra-seeds 45 46 47``); the paired difference over seeds 42-47 (``extra_paired``) is reported either way.
Validation figures only if kept (refit on the full training split, as af_lever's ``validate`` does); the shipped
preset is not changed here either way.
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

log = logging.getLogger("atrial_spectrum")

BAND = (3.0, 12.0)          # Hz, where the dominant atrial frequency is looked for (AF 4-9 Hz, flutter 4-6 Hz)
OI_BAND = (2.0, 30.0)       # Hz, the organization index's denominator (Everett et al. 2001 use 3-30 Hz-ish)
OI_HALF = 0.5               # Hz, half width of the windows around the dominant frequency and its harmonics
WELCH_S = 4.0               # s, Welch segment of the whole residual (0.25 Hz resolution)
NFFT_S = 8.0                # s, FFT length (zero padding: 0.125 Hz bins, a finer peak location)
TQ_NFFT_S = 2.0             # s, FFT length of each T-Q stretch's one-segment periodogram
QRS_ZONE = (-0.05, 0.08)    # s around R, bridged by a line in the residual
TQ_MIN_S = 0.16             # s, shortest T-Q stretch used

COLUMNS = {
    "asp_dom_hz": ("Hz", "dominant frequency of the residual: the highest local maximum of its Welch PSD (4 s "
                         "segments, 50% overlap, 0.125 Hz bins) in 3-12 Hz (NaN if the PSD has none there)"),
    "asp_oi": ("fraction", "organization index: PSD within +-0.5 Hz of the dominant frequency and of its "
                           "harmonics up to 30 Hz over the PSD in 2-30 Hz (flutter high, AF lower)"),
    "asp_peak_width_hz": ("Hz", "width of the dominant peak at half its height (the contiguous bins >= half "
                                "the peak; a 4 s Hann line is about 0.4 Hz wide)"),
    "asp_peak_to_median_db": ("dB", "the dominant peak's PSD over the median PSD in 3-12 Hz"),
    "asp_entropy": ("1", "Shannon entropy of the PSD normalised over 3-12 Hz, divided by log(bins): 1 flat, "
                         "0 one line"),
    "asp_dom_sd_hz": ("Hz", "SD of the dominant frequency (3-12 Hz) over consecutive 4 s windows of the "
                            "residual: flutter steady, AF drifting; NaN under 2 windows"),
    "asp_residual_qrs_ratio": ("1", "RMS of the residual band-passed 3-12 Hz (QRS zones bridged) over the RMS of "
                                    "the template's QRS (R - 0.05 s to R + 0.08 s)"),
    "asp_tq_dom_hz": ("Hz", "dominant frequency (3-12 Hz) of the mean periodogram of the residual's T-Q "
                            "stretches (previous R + min(45% RR, 0.35 s) to R - 0.06 s, >= 0.16 s; each one "
                            "linearly detrended Hann segment zero-padded to 2 s, weighted by its length)"),
    "asp_tq_oi": ("fraction", "asp_oi of that T-Q periodogram"),
    "asp_tq_entropy": ("1", "asp_entropy of that T-Q periodogram"),
    "asp_tq_residual_qrs_ratio": ("1", "RMS of the 3-12 Hz band-passed residual inside the T-Q stretches over "
                                       "the template's QRS RMS"),
}
NAMES = tuple(COLUMNS)
NAN_WHEN = ("all columns: the R-peak detector fails, fewer than 5 R-peaks or 3 dominant beats, or a residual "
            "shorter than 4 s; asp_dom_sd_hz: fewer than two 4 s windows; the asp_tq_ columns: fewer than 4 T-Q "
            "stretches of >= 0.16 s; spectral columns: no power in 3-12 Hz; the peak columns (dominant frequency, "
            "organization index, peak width, peak over median, dominant SD): no local maximum in 3-12 Hz")
KEEP_RULE = ("kept only if CV AF F1 (mean over booster seeds 42-44) rises beyond the larger seed sd of both rows "
             "and CV macro F1 does not drop beyond it, and the same on fresh seeds 45-47; validation only if kept; "
             "the shipped preset is not changed by this script either way")


def _bins(fs, nfft):
    return np.fft.rfftfreq(nfft, 1.0 / fs)


def spectral_measures(freqs, psd) -> dict:
    """Dominant frequency, organization index, peak width, peak over median, entropy of one PSD (NaN where the
    3-12 Hz band holds no power)."""
    out = dict(dom=np.nan, oi=np.nan, width=np.nan, peak_db=np.nan, entropy=np.nan)
    band = (freqs >= BAND[0]) & (freqs <= BAND[1])
    p = psd[band]
    if p.size < 2 or not np.isfinite(p).all() or p.sum() <= 0:
        return out
    q = p / p.sum()
    q = q[q > 0]
    out["entropy"] = float(-(q * np.log(q)).sum() / np.log(p.size))
    # the highest local maximum inside the band (a falling 1/f-like residual's band edge is no atrial peak)
    idx = np.flatnonzero(band)
    inner = [i for i in idx if 0 < i < psd.size - 1 and psd[i] >= psd[i - 1] and psd[i] > psd[i + 1]]
    if not inner:
        return out
    k = int(max(inner, key=lambda i: psd[i])) - int(idx[0])
    dom = float(freqs[band][k])
    out["dom"] = dom
    # harmonic windows: the fundamental and every multiple up to the OI band's top
    total_sel = (freqs >= OI_BAND[0]) & (freqs <= OI_BAND[1])
    harm = np.zeros_like(freqs, bool)
    for m in range(1, int(OI_BAND[1] // dom) + 1):
        harm |= np.abs(freqs - m * dom) <= OI_HALF
    total = float(psd[total_sel].sum())
    out["oi"] = float(psd[harm & total_sel].sum() / total) if total > 0 else np.nan
    # half-height width: walk out from the peak while the bins stay >= half of it (inside the band)
    half = p[k] / 2.0
    lo = k
    while lo > 0 and p[lo - 1] >= half:
        lo -= 1
    hi = k
    while hi < p.size - 1 and p[hi + 1] >= half:
        hi += 1
    step = float(freqs[1] - freqs[0])
    out["width"] = (hi - lo + 1) * step
    med = float(np.median(p))
    out["peak_db"] = float(10 * np.log10(p[k] / med)) if med > 0 else np.nan
    return out


def _periodogram(seg, fs, nfft) -> np.ndarray:
    """One-segment PSD (V^2/Hz, one-sided) of a linearly detrended, Hann-windowed stretch zero-padded to ``nfft``
    (a stretch longer than ``nfft`` cut to it): what ``welch(seg, nperseg=len(seg), nfft=nfft,
    detrend="linear")`` gives, without its per-call overhead (about 40 stretches per record)."""
    from scipy.signal import detrend
    from scipy.signal.windows import hann

    seg = detrend(np.asarray(seg[:nfft], np.float64), type="linear")
    w = hann(seg.size, sym=False)
    p = np.abs(np.fft.rfft(seg * w, nfft)) ** 2 / (fs * float((w ** 2).sum()))
    p[1:-1 if nfft % 2 == 0 else None] *= 2.0
    return p


def _bridge(residual, peaks, fs) -> np.ndarray:
    """The residual with each QRS zone replaced by the straight line between its ends."""
    x = residual.copy()
    a0, b0 = int(round(QRS_ZONE[0] * fs)), int(round(QRS_ZONE[1] * fs))
    for p in peaks:
        i0, i1 = max(0, p + a0), min(x.size - 1, p + b0)
        if i1 > i0:
            x[i0:i1 + 1] = np.linspace(x[i0], x[i1], i1 - i0 + 1)
    return x


def _tq_stretches(peaks, fs):
    """(start, stop) of the T-Q stretches: previous R + min(45% RR, 0.35 s) to R - 0.06 s, >= 0.16 s (af34's)."""
    out = []
    for p, q in zip(peaks[:-1], peaks[1:]):
        start = p + min(int(0.45 * (q - p)), int(round(0.35 * fs)))
        stop = q - int(round(0.06 * fs))
        if stop - start >= int(round(TQ_MIN_S * fs)):
            out.append((int(start), int(stop)))
    return out


def residual_columns(residual, fs, peaks, qrs_rms) -> np.ndarray:
    """The ``NAMES`` columns of a QRST-cancelled residual (mV) with its R-peaks (samples) and the template's QRS
    RMS (mV). Split from ``spectrum_columns`` so that a synthetic residual can be measured directly."""
    from scipy.signal import butter, sosfiltfilt, welch

    out = dict.fromkeys(NAMES, np.nan)
    fs = float(fs)
    residual = np.asarray(residual, np.float64)
    peaks = np.asarray(peaks, np.int64)
    nper = int(round(WELCH_S * fs))
    if residual.size < nper:
        return np.array([out[n] for n in NAMES])
    x = _bridge(residual, peaks, fs)
    nfft = int(round(NFFT_S * fs))
    f, pw = welch(x, fs=fs, window="hann", nperseg=nper, noverlap=nper // 2, nfft=nfft, detrend="constant")
    m = spectral_measures(f, pw)
    out.update(asp_dom_hz=m["dom"], asp_oi=m["oi"], asp_peak_width_hz=m["width"],
               asp_peak_to_median_db=m["peak_db"], asp_entropy=m["entropy"])
    doms = []
    for i0 in range(0, x.size - nper + 1, nper):    # consecutive 4 s windows, one periodogram each
        fw, pww = welch(x[i0:i0 + nper], fs=fs, window="hann", nperseg=nper, nfft=nfft, detrend="linear")
        doms.append(spectral_measures(fw, pww)["dom"])
    doms = np.asarray(doms, float)
    doms = doms[np.isfinite(doms)]
    if doms.size >= 2:
        out["asp_dom_sd_hz"] = float(np.std(doms, ddof=1))
    sos = butter(2, [BAND[0], BAND[1]], "bandpass", fs=fs, output="sos")
    xb = sosfiltfilt(sos, x)
    if qrs_rms > 0:
        out["asp_residual_qrs_ratio"] = float(np.sqrt(np.mean(xb ** 2)) / qrs_rms)
    stretches = _tq_stretches(peaks, fs)
    if len(stretches) >= 4:
        tq_nfft = int(round(TQ_NFFT_S * fs))
        fq = _bins(fs, tq_nfft)
        acc, weight, sq, count = np.zeros(fq.size), 0, 0.0, 0
        for a, b in stretches:
            acc += _periodogram(residual[a:b], fs, tq_nfft) * (b - a)
            weight += b - a
            sq += float((xb[a:b] ** 2).sum())
            count += b - a
        mq = spectral_measures(fq, acc / weight)
        out.update(asp_tq_dom_hz=mq["dom"], asp_tq_oi=mq["oi"], asp_tq_entropy=mq["entropy"])
        if qrs_rms > 0:
            out["asp_tq_residual_qrs_ratio"] = float(np.sqrt(sq / count) / qrs_rms)
    return np.array([out[n] for n in NAMES], float)


def cancel(signal, fs):
    """(residual, peaks, template QRS RMS) of one raw single-lead record (mV), or None where undefined: the
    package's cleaning and R-peaks and the ``atrial`` group's median-template cancellation (af34's steps)."""
    from ecgsl_keras.data.record_features import MIN_BEATS, _qrst_cancel, _windows, ectopic_mask

    from experiments.cinc2017.atrial_waves import cleaned_and_peaks

    got = cleaned_and_peaks(signal, fs)
    if got is None:
        return None
    cleaned, peaks = got
    s = lambda sec: int(round(sec * fs))     # noqa: E731 seconds -> samples
    flag = ectopic_mask(np.diff(peaks) / fs)
    dominant = np.concatenate([[True], ~flag]) & np.concatenate([~flag, [True]])
    lo, hi = -s(0.30), s(0.60)
    rows, _ = _windows(cleaned, peaks[dominant], lo, hi)
    if rows.shape[0] < MIN_BEATS:
        return None
    tpl = np.median(rows, axis=0)
    residual, _ = _qrst_cancel(cleaned, peaks, tpl, -lo, lo, hi)
    qrs = tpl[-lo + s(QRS_ZONE[0]): -lo + s(QRS_ZONE[1]) + 1]
    qrs = qrs - np.median(tpl)
    return residual, peaks, float(np.sqrt(np.mean(qrs ** 2)))


def spectrum_columns(signal, fs, canceller=None) -> np.ndarray:
    """The ``NAMES`` columns of one raw single-lead record (mV); all NaN where the cancellation is undefined.
    ``canceller``: ``cancel`` (af35's median template, the default) or another function with its signature and
    output (af37: ``qrst_cancel.cancel_adaptive``)."""
    got = (canceller or cancel)(signal, fs)
    if got is None:
        return np.full(len(NAMES), np.nan)
    return residual_columns(got[0], fs, got[1], got[2])


def _auc(pos, neg) -> float:
    from sklearn.metrics import roc_auc_score

    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return round(float(roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg])), 4)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    column_arguments(p, "atrial_spectrum, or --key")
    p.add_argument("--cancel", choices=("median", "af37"), default="median",
                   help="QRST cancellation: af35's median template or af37's qrst_cancel.cancel_adaptive")
    p.add_argument("--key", default="atrial_spectrum", help="the results JSON's key")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.cancel == "af37":
        from experiments.cinc2017.qrst_cancel import cancel_adaptive as canceller
    else:
        canceller = cancel
    got = extract_columns(lambda signal, fs: spectrum_columns(signal, fs, canceller), NAMES, args.features,
                          args.deep_oof, args.cinc_dir, args.work, args.out, args.limit, log)
    X = got["X"]
    result = {"cancel": args.cancel, "records": len(got["ids"]), "records_done": len(got["done"]), "names": list(NAMES),
              "columns": {n: {"unit": u, "meaning": m} for n, (u, m) in COLUMNS.items()}, "nan_when": NAN_WHEN,
              **column_summary(got, NAMES), "keep_rule": KEEP_RULE}
    train, y = train_rows(got)
    if train:
        result["train_class_median"] = {n: {c: round(float(np.nanmedian(X[train][y == c, j])), 4)
                                            for c in sorted(set(y))} for j, n in enumerate(NAMES)}
        # one column alone (AF positive; NaN rows left out): how far it tells AF from Other and from Normal
        result["train_auc_af_positive"] = {n: {f"A_vs_{c}": _auc(X[train][y == "A", j], X[train][y == c, j])
                                               for c in ("O", "N")} for j, n in enumerate(NAMES)}
    if args.results:
        save_results(args.results, args.key, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""af37 (issue 18): a better QRST cancellation for ``atrial_spectrum.py``'s columns (the spectrum code is reused
unchanged; only the cancellation differs). af35 subtracted ONE median template of the record around every beat;
on MIT-BIH DS1 its residual's dominant frequency told AF from sinus only weakly (pooled AUC 0.56, AF windows'
median 3.6 Hz, in sinus the peak sat on heart-rate multiples): QRS / T remnants, not atrial activity.

``cancel_adaptive`` (same inputs and output tuple as ``atrial_spectrum.cancel``), per beat:

1. an adaptive template: the sample median of the ``K_NEAREST`` dominant beats nearest in QRS shape (Euclidean
   distance over R - 0.05 s .. R + 0.08 s, mean removed; the beat itself left out so its own atrial waves are not
   in its template);
2. alignment: the beat's R moved by the integer shift (within +- ``MAX_SHIFT_S``) that best correlates the beat's
   QRS with the template's (the detector's R is a few ms off, and a steep QRS one sample off leaves a spike);
3. the template split at R + ``QRS_END_S`` into a P-QRS part and an ST-T part (a ``CROSSFADE_S`` raised-cosine
   join), the ST-T part time-stretched by sqrt(preceding RR / the record's median RR) (Bazett-like, clipped to
   ``STRETCH_CLIP``) so that the T wave sits where it does after a short or long interval;
4. amplitude and fine timing: the two parts and their time derivatives fitted by least squares to the beat (plus a
   constant and a linear trend as nuisance terms that are not subtracted): each part's scale (clipped to
   ``SCALE_CLIP``) and its sub-sample shift (first-order Taylor, clipped to ``SUBSHIFT_CLIP`` samples: a steep QRS
   sampled half a sample off leaves a spike), over the same cut as ``_qrst_cancel`` (40% of the previous RR before
   R, 60% of the next RR after);
5. the subtracted piece minus the straight line between its two ends, so that the cut leaves no step in the
   residual (a step at every beat is a heart-rate spike train in the spectrum).

``residual_power`` is the per-window diagnostic of what is left: the residual's RMS inside the QRS zones (before
``atrial_spectrum``'s bridging) and in the ST-T zones, each over the template's QRS RMS.
"""
from __future__ import annotations

import numpy as np

K_NEAREST = 20              # beats in each adaptive template (a 30 s record holds about 30-40)
MAX_SHIFT_S = 0.010         # s, largest R re-alignment
QRS_END_S = 0.08            # s after R where the P-QRS part ends and the ST-T part starts
CROSSFADE_S = 0.02          # s, raised-cosine join of the two parts
STRETCH_CLIP = (0.8, 1.25)  # the ST-T stretch factor's range
SCALE_CLIP = (0.3, 3.0)     # the least-squares amplitude scales' range
SUBSHIFT_CLIP = (1.5, 5.0)  # samples, largest sub-sample shift of the P-QRS and of the ST-T part (Taylor term)
WINDOW_S = (-0.30, 0.60)    # s around R, the template window (af35's)
QRS_ZONE_S = (-0.05, 0.08)  # s around R, the QRS zone (af35's)
ST_ZONE_S = (0.10, 0.45)    # s after R, the ST-T zone of the diagnostic (cut at 60% of the next RR)


def _prepare(signal, fs):
    """(cleaned, peaks, dominant mask) as ``atrial_spectrum.cancel`` gets them, or None."""
    from ecgsl_keras.data.record_features import ectopic_mask

    from experiments.cinc2017.atrial_waves import cleaned_and_peaks

    got = cleaned_and_peaks(signal, fs)
    if got is None:
        return None
    cleaned, peaks = got
    flag = ectopic_mask(np.diff(peaks) / fs)
    dominant = np.concatenate([[True], ~flag]) & np.concatenate([~flag, [True]])
    return cleaned, peaks, dominant


def _stretch(part, factor):
    """``part`` (starting at the split point) resampled so that its time axis is ``factor`` times longer."""
    t = np.arange(part.size, dtype=float)
    return np.interp(t / factor, t, part, right=part[-1])


def cancel_adaptive(signal, fs):
    """(residual, peaks, template QRS RMS) of one raw single-lead record (mV), or None where undefined (the same
    conditions as ``atrial_spectrum.cancel``): the module docstring's steps 1-5."""
    from ecgsl_keras.data.record_features import MIN_BEATS

    got = _prepare(signal, fs)
    if got is None:
        return None
    cleaned, peaks, dominant = got
    s = lambda sec: int(round(sec * fs))     # noqa: E731 seconds -> samples
    lo, hi = s(WINDOW_S[0]), s(WINDOW_S[1])
    r0, shift = -lo, s(MAX_SHIFT_S)
    pad = max(-lo, hi) + shift + 1
    xp = np.pad(cleaned, pad, mode="edge")         # every beat gets a full window (edges repeat the end value)
    n = cleaned.size
    inside = (peaks + lo >= 0) & (peaks + hi <= n)
    src = np.flatnonzero(dominant & inside)        # template beats: dominant, window wholly inside the record
    if src.size < MIN_BEATS:
        return None
    offs = np.arange(lo, hi)
    rows = xp[(peaks + pad)[:, None] + offs[None, :]]                 # every beat's window
    q0, q1 = r0 + s(QRS_ZONE_S[0]), r0 + s(QRS_ZONE_S[1]) + 1
    qrs = rows[:, q0:q1] - rows[:, q0:q1].mean(axis=1, keepdims=True)
    d = ((qrs[:, None, :] - qrs[None, src, :]) ** 2).sum(axis=2)      # beats x template beats
    d[src, np.arange(src.size)] = np.inf                              # a beat is not in its own template
    k = int(min(K_NEAREST, max(src.size - 1, 1)))
    near = np.argsort(d, axis=1)[:, :k]
    tpls = np.median(rows[src][near], axis=1)                          # beats x window
    # steps 2-5 per beat
    rr = np.diff(peaks).astype(float)
    rr_med = float(np.median(rr))
    prev_rr = np.concatenate([[rr[0]], rr])
    prev_cut = np.concatenate([[np.inf], rr])
    next_cut = np.concatenate([rr, [np.inf]])
    split = r0 + s(QRS_END_S)
    fade = max(s(CROSSFADE_S), 1)
    w = np.ones(offs.size)
    w[split:] = 0.0
    w[split - fade: split] = 0.5 * (1 + np.cos(np.pi * (np.arange(fade) + 0.5) / fade))
    residual = cleaned.copy()
    tq = np.arange(q0, q1)
    for i, p in enumerate(peaks):
        tpl = tpls[i]
        # 2: the shift (beat moved against the template) with the highest QRS correlation
        best, best_c = 0, -np.inf
        tq_c = tpl[tq] - tpl[tq].mean()
        for dlt in range(-shift, shift + 1):
            seg = xp[p + pad + dlt + tq - r0]
            c = float(np.dot(seg - seg.mean(), tq_c))
            if c > best_c:
                best, best_c = dlt, c
        pc = p + best
        # 3: the ST-T part stretched by the preceding RR
        factor = float(np.clip(np.sqrt(prev_rr[i] / rr_med), *STRETCH_CLIP))
        st = np.empty_like(tpl)
        st[:split - fade] = tpl[:split - fade]
        st[split - fade:] = _stretch(tpl[split - fade:], factor)
        a_part, b_part = tpl * w, st * (1.0 - w)
        # the cut (af35's _qrst_cancel): 40% of the previous RR before R, 60% of the next RR after
        left = int(min(-lo, 0.4 * prev_cut[i]))
        right = int(min(hi, 0.6 * next_cut[i]))
        i0, i1 = max(0, pc - left), min(n, pc + right)
        if i1 - i0 < 8:
            continue
        j0, j1 = r0 - (pc - i0), r0 + (i1 - pc)
        y = cleaned[i0:i1]
        t = np.linspace(-1.0, 1.0, i1 - i0)
        da, db = np.gradient(a_part)[j0:j1], np.gradient(b_part)[j0:j1]
        basis = np.stack([a_part[j0:j1], b_part[j0:j1], da, db, np.ones_like(t), t], axis=1)
        coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
        if not np.isfinite(coef).all():
            coef = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
        ca, cb = (float(np.clip(c, *SCALE_CLIP)) for c in coef[:2])
        # the derivative terms: a sub-sample shift of each part (first-order Taylor), in samples, clipped
        sa = float(np.clip(-coef[2] / max(ca, 1e-9), -SUBSHIFT_CLIP[0], SUBSHIFT_CLIP[0]))
        sb = float(np.clip(-coef[3] / max(cb, 1e-9), -SUBSHIFT_CLIP[1], SUBSHIFT_CLIP[1]))
        piece = ca * (basis[:, 0] - sa * da) + cb * (basis[:, 1] - sb * db)
        # 5: no step at the cut ends
        piece = piece - np.linspace(piece[0], piece[-1], piece.size)
        residual[i0:i1] -= piece
        peaks[i] = pc
    med = np.median(rows[src], axis=0)
    qz = med[r0 + s(QRS_ZONE_S[0]): r0 + s(QRS_ZONE_S[1]) + 1] - np.median(med)
    return residual, peaks, float(np.sqrt(np.mean(qz ** 2)))


def residual_power(residual, peaks, fs, qrs_rms) -> tuple:
    """(QRS-zone, ST-T-zone) RMS of a residual (mV, before bridging) over the template's QRS RMS: how much of the
    ventricular activity the cancellation left (NaN where undefined). Each zone's own mean is removed first: a
    slow baseline (left by either cancellation) is not a ventricular remnant and the spectrum ignores it."""
    if not qrs_rms > 0 or len(peaks) < 2:
        return np.nan, np.nan
    s = lambda sec: int(round(sec * fs))     # noqa: E731 seconds -> samples
    res = np.asarray(residual, float)
    q, t = [], []
    nxt = np.concatenate([np.diff(peaks), [s(1.0)]])
    for p, rr in zip(peaks, nxt):
        a, b = max(0, p + s(QRS_ZONE_S[0])), min(res.size, p + s(QRS_ZONE_S[1]) + 1)
        if b > a:
            q.append(res[a:b] - res[a:b].mean())
        a, b = p + s(ST_ZONE_S[0]), min(res.size, p + min(s(ST_ZONE_S[1]), int(0.6 * rr)))
        if b > a:
            t.append(res[a:b] - res[a:b].mean())
    rq = np.sqrt(np.mean(np.concatenate(q) ** 2)) / qrs_rms if q else np.nan
    rt = np.sqrt(np.mean(np.concatenate(t) ** 2)) / qrs_rms if t else np.nan
    return float(rq), float(rt)

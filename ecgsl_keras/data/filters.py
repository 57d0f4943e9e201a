"""Filtering and resampling of a single-lead ECG: ``clean`` (``neurokit2.ecg_clean``) and ``resample`` (polyphase).

The lowest layer of the signal chain: ``rpeaks`` (detection) and ``signal`` (``preprocess``) both use it and it
imports neither. ``ecgsl_keras.data.signal`` re-exports every name here (``signal.clean``, ``signal.resample``,
``signal.resampled_length``), the names the rest of the package has always used.
"""
from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import scipy.signal

__all__ = ["clean", "resample", "resampled_length"]


def resample(signal, fs, target_fs) -> np.ndarray:
    """Resample to ``target_fs`` with a polyphase anti-aliasing filter (``scipy.signal.resample_poly``).

    The rate ratio is taken as a fraction (denominator at most 1000: 360 -> 100 Hz is 5/18), so
    sample ``k`` of the output lies at time ``k / target_fs`` and the output has
    ``ceil(len(signal) * up / down)`` samples. float64 out.
    """
    x = np.asarray(signal, dtype=np.float64)
    fs, target_fs = float(fs), float(target_fs)
    if fs <= 0 or target_fs <= 0:
        raise ValueError(f"sampling rates must be positive, got fs={fs}, target_fs={target_fs}")
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    if ratio == 1:
        return x.copy()
    return scipy.signal.resample_poly(x, ratio.numerator, ratio.denominator)


def resampled_length(n_samples: int, fs, target_fs) -> int:
    """Length of ``resample(x, fs, target_fs)`` for ``len(x) == n_samples`` (without resampling)."""
    ratio = Fraction(float(target_fs) / float(fs)).limit_denominator(1000)
    if ratio == 1:
        return int(n_samples)
    return -(-int(n_samples) * ratio.numerator // ratio.denominator)


def _nk_rate(fs: float):
    # Some neurokit2 detectors build integer-sized windows from the rate; give an int when exact.
    fs = float(fs)
    return int(fs) if fs.is_integer() else fs


def clean(signal, fs, method="neurokit") -> np.ndarray:
    """Band-pass / baseline cleaning with ``neurokit2.ecg_clean(method=...)``. float64 out."""
    import neurokit2 as nk

    x = np.asarray(signal, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(nk.ecg_clean(x, sampling_rate=_nk_rate(fs), method=method), dtype=np.float64)

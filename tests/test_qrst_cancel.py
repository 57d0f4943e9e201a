"""experiments/cinc2017/qrst_cancel.py (af37, issue 18): the adaptive QRST cancellation."""
import numpy as np
from scipy.signal import sawtooth

from experiments.cinc2017 import atrial_spectrum as A
from experiments.cinc2017.qrst_cancel import cancel_adaptive, residual_power

FS = 300.0


def _synthetic(flutter_mv, seed=0):
    """30 s of beats at irregular RR (0.55-1.0 s) with per-beat amplitudes 0.6-1.4, a T wave whose delay follows
    the preceding RR (Bazett-like), plus a 6 Hz sawtooth of ``flutter_mv`` and a little noise."""
    rng = np.random.default_rng(seed)
    n = int(30 * FS)
    t = np.arange(n) / FS
    x = np.zeros(n)
    peaks, p = [], 0.5
    while p < 29.4:
        peaks.append(p)
        p += rng.uniform(0.55, 1.0)
    for k, pk in enumerate(peaks):
        rr = 0.8 if k == 0 else pk - peaks[k - 1]
        m = (t > pk - 0.4) & (t < pk + 0.7)
        tt, amp = t[m] - pk, rng.uniform(0.6, 1.4)
        x[m] += amp * (np.exp(-(tt / 0.012) ** 2) - 0.25 * np.exp(-((tt + 0.03) / 0.01) ** 2)
                       - 0.3 * np.exp(-((tt - 0.03) / 0.012) ** 2)
                       + 0.3 * np.exp(-((tt - 0.25 * np.sqrt(rr / 0.8)) / 0.05) ** 2))
    return x + flutter_mv * sawtooth(2 * np.pi * 6.0 * t) + 0.005 * rng.normal(size=n)


def test_adaptive_cancellation_finds_the_6hz_waves_and_leaves_less_qrs_than_the_median_template():
    x = _synthetic(0.05)
    new, old = cancel_adaptive(x, FS), A.cancel(x, FS)
    row = A.residual_columns(new[0], FS, new[1], new[2])
    assert abs(row[A.NAMES.index("asp_dom_hz")] - 6.0) <= 0.125
    # without the atrial waves, what is left in the QRS zones is cancellation error only
    y = _synthetic(0.0)
    res_new, peaks_new, qrs_new = cancel_adaptive(y, FS)
    res_old, peaks_old, qrs_old = A.cancel(y, FS)
    q_new, t_new = residual_power(res_new, peaks_new, FS, qrs_new)
    q_old, t_old = residual_power(res_old, peaks_old, FS, qrs_old)
    assert q_new < 0.5 * q_old and t_new < 0.5 * t_old, (q_new, q_old, t_new, t_old)
    assert new[1].size == old[1].size     # the same beats, re-aligned by at most 10 ms
    assert np.abs(new[1] - old[1]).max() <= round(0.010 * FS)


def test_undefined_input_gives_none():
    assert cancel_adaptive(np.zeros(int(2 * FS)), FS) is None

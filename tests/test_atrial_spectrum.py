"""experiments/cinc2017/atrial_spectrum.py (af35, issue 18): the frequency-domain atrial columns."""
import csv

import numpy as np
from helpers import CINC_SAMPLE as SAMPLE
from scipy.signal import sawtooth, welch

from experiments.cinc2017 import atrial_spectrum as A

FS = 300.0


def _col(row, name):
    return row[A.NAMES.index(name)]


def test_flutter_like_residual_gives_its_rate_and_a_sharp_organised_peak():
    """A 5 Hz sawtooth (flutter waves at 300 / min) under 4:1 conduction: the dominant frequency is 5 Hz on the
    whole residual and in the T-Q stretches; the peak is sharp and organised, unlike plain noise."""
    t = np.arange(int(30 * FS)) / FS
    rng = np.random.default_rng(0)
    peaks = np.arange(int(0.4 * FS), t.size, int(0.8 * FS))
    flutter = A.residual_columns(0.1 * sawtooth(2 * np.pi * 5.0 * t) + 0.01 * rng.normal(size=t.size), FS, peaks, 1.0)
    noise = A.residual_columns(0.01 * rng.normal(size=t.size), FS, peaks, 1.0)
    assert abs(_col(flutter, "asp_dom_hz") - 5.0) <= 0.125
    assert abs(_col(flutter, "asp_tq_dom_hz") - 5.0) <= 0.5          # 0.3-0.5 s stretches: coarse bins
    assert _col(flutter, "asp_dom_sd_hz") < 0.2
    assert _col(flutter, "asp_peak_width_hz") <= 0.5
    assert _col(flutter, "asp_oi") > 0.6 > _col(noise, "asp_oi")
    assert _col(flutter, "asp_entropy") < _col(noise, "asp_entropy")
    assert _col(flutter, "asp_residual_qrs_ratio") > 10 * _col(noise, "asp_residual_qrs_ratio")


def test_stretch_periodogram_is_welchs_one_segment_psd():
    x = np.random.default_rng(1).normal(size=137)
    _, p = welch(x, fs=FS, window="hann", nperseg=x.size, nfft=600, detrend="linear")
    assert np.allclose(A._periodogram(x, FS, 600), p)


def test_fixture_records_give_finite_columns_and_short_input_gives_nan():
    from ecgsl_keras.data.datasets import open_dataset

    labels = dict(csv.reader(open(SAMPLE / "REFERENCE.csv")))
    reader = open_dataset("cinc2017", SAMPLE)
    af = next(r for r, lab in sorted(labels.items()) if lab == "A")
    normal = next(r for r, lab in sorted(labels.items()) if lab == "N")
    for rid in (af, normal):
        record = reader.load(rid)
        row = A.spectrum_columns(record.lead(None), record.fs)
        assert row.shape == (len(A.NAMES),)
        whole = [n for n in A.NAMES if not n.startswith("asp_tq_")]
        assert np.isfinite([_col(row, n) for n in whole]).all(), (rid, row)
        assert A.BAND[0] <= _col(row, "asp_dom_hz") <= A.BAND[1]
    assert np.isnan(A.spectrum_columns(np.zeros(int(2 * FS)), FS)).all()
    assert set(A.COLUMNS) == set(A.NAMES) and all(len(v) == 2 for v in A.COLUMNS.values())


def test_harmonic_share_flags_a_peak_on_the_heart_rates_multiple():
    from experiments.cinc2017.atrial_spectrum_mitdb import harmonic_share

    near, chance = harmonic_share(np.array([3.0, 5.2, np.nan]), np.array([1.5, 1.5, 1.5]))
    assert near[0] == 1.0 and near[1] == 0.0 and np.isnan(near[2])
    assert 0.2 < chance[0] < 0.4                 # 3, 4.5, 6, ... 12 Hz, +-0.25 Hz each, over 9 Hz

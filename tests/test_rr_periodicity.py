"""Issue 18's af64 (experiments/cinc2017/rr_periodicity.py): the periodicity of a record's RR series in beats. White
noise spreads the periodogram; a premature beat every other beat puts it in one bin at a period of two beats."""
from pathlib import Path

import numpy as np

from ecgsl_keras.data import readers
from experiments.cinc2017 import rr_periodicity as rp

SAMPLE = Path(__file__).resolve().parents[1] / "ecgsl_keras" / "data" / "cinc2017_sample"


def _columns(rr):
    return dict(zip(rp.NAMES, rp.periodicity(rr)))


def test_white_rr_against_bigeminy():
    rng = np.random.default_rng(0)
    white = _columns(0.7 + 0.1 * rng.standard_normal(80))
    bigeminy = _columns(np.tile([0.5, 0.9], 40) + 0.01 * rng.standard_normal(80))
    assert white["rrp_peak_fraction"] < 0.25 < 0.9 < bigeminy["rrp_peak_fraction"]
    assert bigeminy["rrp_peak_period_beats"] == 2.0
    assert bigeminy["rrp_flatness"] < 0.05 < white["rrp_flatness"]
    assert bigeminy["rrp_acf_max_2_6"] > 0.9 > 0.5 > abs(white["rrp_acf4"])


def test_too_few_or_constant_intervals_give_nan():
    assert np.isnan(rp.periodicity(np.full(rp.MIN_RR - 1, 0.8))).all()
    assert np.isnan(rp.periodicity(np.full(30, 0.8))).all()
    assert np.isnan(rp.periodicity([0.8] * 20 + [np.nan])).all()


def test_a_real_record_gives_every_column():
    signal, fs, _ = readers.read_lead(sorted(SAMPLE.glob("A*.hea"))[0].with_suffix(""))
    row = rp.periodicity_columns(signal, fs)
    assert row.shape == (len(rp.NAMES),) and np.isfinite(row).all()
    assert 0 < row[rp.NAMES.index("rrp_peak_fraction")] <= 1

"""Per-beat features (issue 18, deliverable 3) on the MIT-BIH fixture records: ventricular beats are wide,
premature and unlike the record's median beat; the RR context is divided by the record's own average RR."""
import numpy as np
import pytest

from ecgsl_keras import tasks
from ecgsl_keras.data.per_beat_features import FEATURE_NAMES, FEATURES, per_beat_features, record_rr_s
from helpers import mitdb_beats

N, V = tasks.MITDB_AAMI.label_names.index("N"), tasks.MITDB_AAMI.label_names.index("V")


def _column(X, name):
    return X[:, FEATURE_NAMES.index(name)]


def test_every_feature_is_documented_with_a_unit():
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES)) == len(FEATURES)
    assert all(unit and meaning for unit, meaning in FEATURES.values())


@pytest.mark.parametrize("record_id", ["119", "208"])
def test_ventricular_beats_are_wide_premature_and_unlike_the_median_beat(record_id):
    beats, rr, labels = mitdb_beats(record_id)
    X = per_beat_features(beats, rr)
    assert X.shape == (len(beats), len(FEATURE_NAMES))
    np.testing.assert_allclose(_column(X, "pre_rr_norm"), rr[:, 0] / record_rr_s(rr))
    np.testing.assert_allclose(_column(X, "record_rr_s"), np.mean(rr[:, 0]))
    normal, ventricular = labels == N, labels == V
    assert normal.sum() > 50 and ventricular.sum() > 20
    med = {name: (np.nanmedian(_column(X, name)[normal]), np.nanmedian(_column(X, name)[ventricular]))
           for name in ("qrs_width_ms", "pre_rr_norm", "post_pre_ratio", "residual_norm")}
    assert med["qrs_width_ms"][1] >= med["qrs_width_ms"][0] + 40          # wide QRS (>= 40 ms wider)
    assert med["pre_rr_norm"][1] < 0.9 < med["pre_rr_norm"][0]             # premature against the record's own RR
    assert med["post_pre_ratio"][1] > 1.2 > med["post_pre_ratio"][0]       # compensatory pause
    assert med["residual_norm"][1] > 1.5 * med["residual_norm"][0]
    assert np.isfinite(X[:, :FEATURE_NAMES.index("post_pre_ratio") + 1]).all()


def test_flat_beats_give_nan_correlations_not_errors():
    beats = np.zeros((5, 96))
    rr = np.full((5, 3), 0.8)
    X = per_beat_features(beats, rr)
    assert np.isnan(_column(X, "median_corr")).all() and np.isnan(_column(X, "r_amplitude_norm")).all()
    np.testing.assert_allclose(_column(X, "pre_rr_norm"), 1.0)


@pytest.mark.parametrize("beats, rr", [(np.zeros((4, 40)), np.ones((4, 3))), (np.zeros((4, 96)), np.ones((3, 3))),
                                       (np.zeros((4, 96)), np.ones((4, 2)))])
def test_wrong_shapes_are_refused(beats, rr):
    with pytest.raises(ValueError, match="beats must be|rr must be"):
        per_beat_features(beats, rr)

"""Issue 18's af49 (experiments/cinc2017/detector_diversity.py): the second detector's beats are the ones
record_features compares for the bSQI, and table B keeps table A's quality columns."""
import numpy as np
import pytest

from experiments.cinc2017 import detector_diversity


def test_table_b_takes_table_as_quality_columns_only():
    names = ["mean_rr", "sqi_bsqi", "af_afev", "sqi_kurtosis"]
    a = np.arange(12, dtype=float).reshape(3, 4)
    b = -np.arange(12, dtype=float).reshape(3, 4)
    out = detector_diversity.with_quality_of(b, a, names)
    np.testing.assert_array_equal(out[:, [1, 3]], a[:, [1, 3]])
    np.testing.assert_array_equal(out[:, [0, 2]], b[:, [0, 2]])
    assert b[0, 1] == -1.0                                               # the input is not changed


def test_second_detector_beats_are_record_features_bsqi_beats():
    pytest.importorskip("neurokit2")
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.datasets.cinc2017 import cinc2017_sample_dir
    from ecgsl_keras.data.record_features import record_features

    reader = open_dataset("cinc2017", cinc2017_sample_dir())
    record = reader.load("A00205")
    signal = record.lead(None)
    beats = detector_diversity.second_detector_beats(signal, record.fs)
    assert beats.size > 10 and np.all(np.diff(beats) > 0)
    given = record_features(signal, record.fs, rpeaks=beats, groups=("quality", "baseline", "hrv"))
    # fed as the record's beats, they agree with the Hamilton beats record_features finds itself: bSQI 1
    assert given["sqi_bsqi"] == 1.0
    # and the rhythm columns are theirs (the shortest RR in ms), not the default detector's
    assert given["hrv_minnn"] == pytest.approx(1000.0 * np.min(np.diff(beats)) / record.fs)
    own = record_features(signal, record.fs, groups=("quality", "baseline", "hrv"))
    assert own["sqi_bsqi"] < 1.0 and own["hrv_minnn"] != given["hrv_minnn"]   # this record: the detectors differ

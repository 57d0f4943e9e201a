"""Issue 18's af48 (experiments/cinc2017/crop_augment.py): the crops' bounds, a held fold's crops never training the
booster that scores it, and the crops' features computed as the committed table's (on the package's CinC sample)."""
import argparse

import numpy as np
import pytest

from experiments.cinc2017 import crop_augment
from experiments.cinc2017.oof_table import DEFAULT_FEATURES_NPZ, DEFAULT_NPZ


def test_crop_bounds_two_overlapping_crops_from_20_s():
    assert crop_augment.crop_bounds(5999, 300.0) == []                  # under 20 s: no crop
    assert crop_augment.crop_bounds(9000, 300.0) == [(0, 6300), (2700, 9000)]
    (a0, b0), (a1, b1) = crop_augment.crop_bounds(18286, 300.0)
    assert a0 == 0 and b1 == 18286 and b0 - a0 == b1 - a1 and a1 < b0     # equal lengths, overlapping middle


def test_a_held_folds_crops_never_train_its_booster():
    rng = np.random.default_rng(0)
    n, k = 50, 5
    X, y, fold = rng.normal(size=(n, 3)), rng.integers(0, 4, n), np.arange(n) % k
    owner = np.repeat(np.arange(n), 2)                                    # two crops per record
    cX, cy, cfold = rng.normal(size=(2 * n, 3)), y[owner], fold[owner]
    class_weight = np.array([1.0, 2.0, 3.0, 4.0])
    for held in range(k):
        Xa, ya, wa = crop_augment.augmented_rows(X, y, fold, cX, cy, cfold, held, 0.5, class_weight)
        whole, crops = (fold != held).sum(), (cfold != held).sum()
        assert len(Xa) == len(ya) == len(wa) == whole + crops
        assert crops == 2 * whole                                          # every training record's two crops
        np.testing.assert_array_equal(Xa[:whole], X[fold != held])
        np.testing.assert_array_equal(Xa[whole:], cX[cfold != held])       # no held record's crop
        np.testing.assert_allclose(wa[:whole], class_weight[ya[:whole]])
        np.testing.assert_allclose(wa[whole:], 0.5 * class_weight[ya[whole:]])


def test_whole_record_features_equal_the_committed_table_and_crops_differ(tmp_path):
    pytest.importorskip("neurokit2")
    from ecgsl_keras.data.datasets.cinc2017 import cinc2017_sample_dir

    args = argparse.Namespace(features=DEFAULT_FEATURES_NPZ, deep_oof=DEFAULT_NPZ, work=tmp_path, k=5,
                              cinc_dir=cinc2017_sample_dir())
    aug = crop_augment.CropAugment(args)
    rid = "A00205"                                     # in the package's sample and in the training split
    i = aug.ids.index(rid)
    record = aug.reader.load(rid)
    signal = record.lead(None)
    whole = aug.features(signal, record.fs, record.path)
    np.testing.assert_array_equal(whole.astype(np.float32), aug.lever.X["train"][i])
    bounds = crop_augment.crop_bounds(len(signal), record.fs)
    assert len(bounds) == 2
    crops = [aug.features(signal[a:b], record.fs, record.path) for a, b in bounds]
    for crop in crops:
        assert crop.shape == whole.shape
        assert np.isfinite(crop).sum() >= 0.9 * np.isfinite(whole).sum()
    assert not np.allclose(crops[0], whole, equal_nan=True) and not np.allclose(crops[0], crops[1], equal_nan=True)
    row = aug.crop_row(signal, record.fs)                                 # extract_columns' row: both crops, status
    n = len(aug.lever.names)
    np.testing.assert_array_equal(row[:n], crops[0])
    np.testing.assert_array_equal(row[n:2 * n], crops[1])
    assert list(row[2 * n:]) == [crop_augment.CROP_STATUS["ok"]] * 2
    short = aug.crop_row(signal[: int(15 * record.fs)], record.fs)       # under 20 s: no crop
    assert np.isnan(short[:2 * n]).all() and list(short[2 * n:]) == [crop_augment.CROP_STATUS["none"]] * 2

"""Issue 18's af62 (experiments/cinc2017/tta_crops.py): the booster side averages the whole record with the crops that
passed the gate only, keeps the whole record where there is no crop, and the crops come from af48's bounds for every
record long enough (the bounds read the length alone)."""
import numpy as np

from experiments.cinc2017 import crop_augment, tta_crops


def test_tta_averages_only_the_crops_that_passed():
    whole = np.tile([0.7, 0.1, 0.1, 0.1], (3, 1))
    crops = np.stack([np.tile([0.1, 0.7, 0.1, 0.1], (3, 1)), np.tile([0.1, 0.1, 0.7, 0.1], (3, 1))], axis=1)
    ok = np.array([[True, True], [True, False], [False, False]])
    mean = tta_crops.tta(whole, crops, ok)
    np.testing.assert_allclose(mean[0], (whole[0] + crops[0, 0] + crops[0, 1]) / 3)
    np.testing.assert_allclose(mean[1], (whole[1] + crops[1, 0]) / 2)
    np.testing.assert_allclose(mean[2], whole[2])                 # no crop: the whole record alone
    half = tta_crops.tta(whole, crops, ok, share=0.5)
    np.testing.assert_allclose(half[0], 0.5 * whole[0] + 0.25 * (crops[0, 0] + crops[0, 1]))
    np.testing.assert_allclose(half[1], 0.5 * (whole[1] + crops[1, 0]))
    np.testing.assert_allclose(half[2], whole[2])
    assert np.allclose(mean.sum(1), 1) and np.allclose(half.sum(1), 1)


def test_crop_bounds_depend_on_length_only():
    assert crop_augment.crop_bounds(300 * 19, 300.0) == []                       # under 20 s: none
    first, last = crop_augment.crop_bounds(300 * 30, 300.0)
    assert first == (0, 6300) and last == (9000 - 6300, 9000)                     # 70% each, from both ends

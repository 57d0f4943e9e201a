"""Issue 18's af59 (experiments/cinc2017/combo_lever.py): the spectrogram member is the mean of af53's training seeds,
in the Lever's record order; each variant's deep side is the one its plan names; a missing member file names the
command that writes it; the validation split is refused for a lever that is not kept."""
import argparse

import numpy as np
import pytest

from experiments.cinc2017 import combo_lever


class _Lever:
    ids = {"train": ["A1", "A2"], "validation": ["A3"]}
    deep = {"train": np.full((2, 4), 0.25), "validation": np.full((1, 4), 0.25)}


def _lever(tmp_path, write=True):
    lever = combo_lever.ComboLever.__new__(combo_lever.ComboLever)
    lever.lever, lever.args = _Lever(), argparse.Namespace(spectro_work=tmp_path, ectopy_work=tmp_path)
    if write:
        for k, name in enumerate(combo_lever.SPECTRO_FILES):       # seed k puts k / 10 on AF, stored out of order
            p = np.tile([0.5, 0.0, 0.5, 0.0], (3, 1)) + np.array([-k / 10, k / 10, 0, 0])
            np.savez(tmp_path / name, record_id=np.array(["A3", "A1", "A2"]), spectro=p)
    return lever


def test_spectrogram_member_is_the_mean_of_the_seeds_in_lever_order(tmp_path):
    lever = _lever(tmp_path)
    np.testing.assert_allclose(lever.spectro["train"], np.tile([0.4, 0.1, 0.5, 0.0], (2, 1)))
    assert lever.spectro["validation"].shape == (1, 4)


def test_each_variant_has_its_planned_deep_side(tmp_path):
    lever = _lever(tmp_path)
    e, r = np.tile([1.0, 0, 0, 0], (2, 1)), np.tile([0, 1.0, 0, 0], (2, 1))
    lever.lever.members = {"train": (e, r)}
    np.testing.assert_allclose(lever.deep_side("both", "train"), (e + r + lever.spectro["train"]) / 3)
    np.testing.assert_allclose(lever.deep_side("spectro_only", "train"), lever.deep_side("both", "train"))
    np.testing.assert_array_equal(lever.deep_side("focus_only", "train"), _Lever.deep["train"])


def test_missing_member_file_names_the_command(tmp_path):
    lever = _lever(tmp_path, write=False)
    with pytest.raises(SystemExit, match=r"spectro_oof\.npz: not found: run spectro_member\.py --lever af53"):
        lever.spectro


def test_validation_refused_unless_kept(tmp_path):
    lever = _lever(tmp_path)
    for result in ({}, {"cv": {"kept": False}}):
        with pytest.raises(SystemExit, match="not kept"):
            lever.step_validate(result)

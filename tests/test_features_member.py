"""The two cinc2017-keras levers of issue 18 (experiments/cinc2017/features_member.py, keras_seed_ensemble.py): the
features member trains on record features with NaN and gives the preset's labels, a folder without the preset's record
features is refused with its name, and the seed ensemble's baseline is the preset's first member."""
import types

import keras
import numpy as np
import pytest

from experiments.cinc2017 import features_member as fm
from experiments.cinc2017 import keras_seed_ensemble as kse


@pytest.fixture()
def lever(tmp_path):
    return fm.FeaturesMember(types.SimpleNamespace(work=tmp_path / "work"))


def test_the_member_trains_through_nan_features_with_the_presets_labels(lever, monkeypatch):
    monkeypatch.setitem(fm.SCHEDULE, "epochs", 3)
    rng = np.random.default_rng(0)
    width = lever.model_config()[0].n_record_features
    X = rng.normal(size=(40, width))
    X[::3, 5] = np.nan                                     # a statistic missing on some records
    y = np.arange(40) % 4
    member, head = lever.fit_member(X, y, seed=42)
    p = head.predict(X.astype(np.float32), verbose=0)
    assert p.shape == (40, 4) and np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert sorted(member.input) == ["beats", "padding_mask", "record_features", "rr"]
    assert lever.member_layer in [layer.name for layer in member.layers]


def test_a_folder_without_the_presets_record_features_is_refused(lever, cinc_sample_tfrecords):
    with pytest.raises(SystemExit, match=f"{cinc_sample_tfrecords}: examples with \\[0\\] record features"):
        lever.member_inputs(cinc_sample_tfrecords)


def test_the_seed_ensembles_baseline_is_the_presets_first_member(tmp_path):
    seeds = kse.SeedEnsemble(types.SimpleNamespace(work=tmp_path / "work"))
    inputs = keras.Input((3,))
    first = keras.Model(inputs, keras.layers.Dense(2, name="a")(inputs), name="member_0")
    other = keras.Model(inputs, keras.layers.Dense(2, name="b")(inputs), name="member_1")
    assert seeds.base_of(first, []) is first
    assert seeds.base_of(None, [first, other]) is first

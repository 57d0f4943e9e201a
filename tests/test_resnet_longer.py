"""The ResNet fold models trained longer (experiments/cinc2017/resnet_longer.py, issue 18 af45)."""
import json

import numpy as np

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ExperimentConfig
from experiments.cinc2017 import oof_table, resnet_longer


def test_the_continued_resnet_starts_from_the_presets_member():
    config = ExperimentConfig()
    task = tasks_lib.get_task("cinc2017")
    net = resnet_longer._continued_stage("cinc2017", 3).build_model(config, task, model_kind="resnet1d",
                                                                      raw_input="signal")
    member = resnet_longer._preset_members("cinc2017")[3]
    other = resnet_longer._preset_members("cinc2017")[0]
    x = np.random.default_rng(1).normal(size=(3, config.model.raw_samples, 1)).astype("float32")
    ours = np.asarray(net(x, training=False))
    np.testing.assert_allclose(ours, np.asarray(member(x, training=False)), atol=1e-6)
    assert np.abs(ours - np.asarray(other(x, training=False))).max() > 1e-3   # a member of its own, not any


def test_af_diagnosis_of_a_table_against_itself_moves_nothing(tmp_path):
    table = oof_table.load_deep_oof(oof_table.DEFAULT_NPZ)
    n = len(table["ecgsl"]["train_record_id"])
    rng = np.random.default_rng(0)
    for seed in range(42, 48):   # stand-ins for af_lever's cached out-of-fold booster outputs
        np.save(tmp_path / f"base_s{seed}.npy", rng.dirichlet(np.ones(4), size=n))
    out = resnet_longer._af_diagnosis(oof_table.DEFAULT_NPZ, oof_table.DEFAULT_NPZ, oof_table.DEFAULT_FEATURES_NPZ,
                                      tmp_path)
    alone = out["resnet_alone"]
    assert alone["af_records_gained"] == alone["af_records_lost"] == 0
    assert alone["committed"] == alone["af45"] and 0 < alone["committed"]["af_called_af"] <= out["af_records"]
    for row in out["recipe"].values():
        assert row["records_changed"] == 0 and row["af_called_af"]["committed"] == row["af_called_af"]["af45"]


def test_the_committed_plan_is_the_scripts():
    assert json.loads(resnet_longer.PLAN_PATH.read_text()) == resnet_longer.PLAN

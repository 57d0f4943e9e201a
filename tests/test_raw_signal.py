"""The continuous-signal input of the resnet1d baseline: prepare --raw-signal, make_dataset(include_signal=True),
train and evaluate on it; folders without the signal still read as before."""
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from ecgsl_keras.evaluation import evaluate

from ecgsl_keras.store import runs
from ecgsl_keras.training import trainer as train_lib
from ecgsl_keras.config import ExperimentConfig, SignalConfig
from helpers import assert_metrics_match_confusion
from tfrecords_tools import TFRecordsError, load_manifest, make_dataset, read_examples

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_raw_signal")


@pytest.fixture(scope="module")
def raw_tfrecords(tmp_path_factory, cinc_dir):
    from ecgsl_keras.cli.prepare import main

    out = tmp_path_factory.mktemp("raw_signal") / "data"
    assert main(["--dataset", "cinc2017", "--data-dir", str(cinc_dir), "--out", str(out), "--raw-signal",
                 "--no-progress"]) == 0
    return out


def _examples(folder, split=None):
    return list(read_examples(str(folder), split))


def test_prepare_stores_the_continuous_signal(raw_tfrecords, cinc_dir):
    from ecgsl_keras.data.datasets import open_dataset

    manifest = load_manifest(raw_tfrecords)
    assert manifest["metadata"]["raw_signal"] is True
    reader = open_dataset("cinc2017", cinc_dir)
    cfg = SignalConfig()
    examples = _examples(raw_tfrecords)
    assert len(examples) == 64
    for ex in examples[:12]:
        record = reader.load(ex.record_id)
        duration_s = record.signal.shape[0] / record.fs
        # duration x 100 Hz (resample_poly gives ceil(n * up / down) samples)
        assert ex.signal.dtype == np.float32 and abs(ex.signal.size - duration_s * 100.0) <= 1.0, (ex.record_id,)
        # the stored beats are windows of the stored signal, R-peak at sample 32
        for i in (0, ex.n_beats // 2, ex.n_beats - 1):
            start = int(ex.rpeaks[i]) - cfg.r_offset
            np.testing.assert_array_equal(ex.signal[start:start + cfg.beat_len], ex.beats[i])


def test_schema_is_backward_compatible(raw_tfrecords, cinc_sample_tfrecords):
    # a folder without the signal: examples have none, still read as before, refused for include_signal
    old = _examples(cinc_sample_tfrecords, "validation")
    assert all(ex.signal.size == 0 for ex in old)
    features, labels = next(iter(make_dataset(str(cinc_sample_tfrecords), split="validation", batch_size=4,
                                              length_aware=False)))
    assert features["beats"].shape == (4, 128, 96) and "signal" not in features
    with pytest.raises(TFRecordsError, match="--raw-signal"):
        make_dataset(str(cinc_sample_tfrecords), split="validation", include_signal=True)
    # the new folder reads beats exactly as the old one (compared per record: the shards differ)
    def by_record(folder):
        out = {}
        for f, y in make_dataset(str(folder), split="validation", batch_size=16, include_meta=True):
            for rid, beats, label in zip(f["record_id"].numpy(), f["beats"].numpy(), y.numpy()):
                out[rid] = (beats, label)
        return out

    old_records, new_records = by_record(cinc_sample_tfrecords), by_record(raw_tfrecords)
    assert sorted(old_records) == sorted(new_records) and len(new_records) == 13
    for rid, (beats, label) in new_records.items():
        np.testing.assert_array_equal(beats, old_records[rid][0])
        assert label == old_records[rid][1]


def test_make_dataset_signal_crops_and_windows(raw_tfrecords):
    lengths = {ex.record_id: ex.signal.size for ex in _examples(raw_tfrecords, "validation")}
    ds = make_dataset(str(raw_tfrecords), split="train", training=True, batch_size=8, seed=0, include_signal=True,
                      signal_samples=1000)
    features, labels = next(iter(ds))
    assert features["signal"].shape == (8, 1000, 1) and features["padding_mask"].shape == (8, 1000)
    assert labels.shape == (8,) and labels.dtype == tf.int32
    windows = evaluate.predict_windows(lambda f: tf.zeros([tf.shape(f["signal"])[0], 4]),
                                       make_dataset(str(raw_tfrecords), split="validation", batch_size=16,
                                                    include_signal=True, signal_samples=1000, include_meta=True))
    ids, counts = np.unique(windows["record_id"], return_counts=True)
    assert set(ids) == set(lengths)
    for rid, count in zip(ids, counts):
        assert count == max(1, math.ceil(lengths[rid] / 1000)), rid   # consecutive windows, last one at the end
    # real samples are marked; a window never goes past the signal
    assert windows["padding_mask"].all() or min(lengths.values()) < 1000


@pytest.mark.slow
def test_resnet1d_trains_and_evaluates_on_the_signal(raw_tfrecords, cinc_dir, tmp_path):
    config = ExperimentConfig.from_dict({"model": {"resnet_filters": 8, "resnet_blocks": 2, "raw_samples": 1500}})
    run_dir = tmp_path / "resnet_raw"
    summary = train_lib.train("supervised", raw_tfrecords, run_dir, model="resnet1d", config=config, epochs=1,
                              batch_size=16, verbose=0)
    assert summary["epochs_completed"] == 1
    info = json.loads((run_dir / runs.CONFIG_NAME).read_text())
    assert info["raw_input"] == "signal" and info["model_kind"] == "resnet1d"
    model = keras.models.load_model(run_dir / runs.MODEL_NAME, compile=False)
    assert model.input_shape == (None, 1500, 1)
    result = evaluate.evaluate_tfrecords(run_dir / runs.MODEL_NAME, raw_tfrecords, "validation")
    assert result["n"] == 13 and np.asarray(result["confusion_matrix"]).sum() == 13
    assert_metrics_match_confusion(result, ["N", "A", "O", "~"])
    assert result["windows"] > 13   # several 15 s windows per 30 s record, averaged per record
    # the stacking's out-of-fold outputs read the same windows and average them the same way
    from sklearn.metrics import confusion_matrix

    from ecgsl_keras import tasks
    from ecgsl_keras.errors import ConfigError
    from ecgsl_keras.training import oof

    run_config = ExperimentConfig.from_dict(info["experiment_config"])
    got = oof.deep_outputs(model, raw_tfrecords, "validation", run_config, tasks.CINC2017)
    assert got["probabilities"].shape == (13, 4) and got["embedding"] is None
    np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert confusion_matrix(got["targets"], got["probabilities"].argmax(-1), labels=range(4)).tolist() == \
        result["confusion_matrix"]
    with pytest.raises(ConfigError, match="no pooled embedding"):
        oof.deep_outputs(model, raw_tfrecords, "validation", run_config, tasks.CINC2017, embedding=True)
    raw = evaluate.evaluate_raw(run_dir / runs.MODEL_NAME, "cinc2017", cinc_dir, records=["A00205", "A00386"],
                                progress=False)
    assert raw["records"] == 2 and raw["n"] == 2

"""ecgsl_keras.serving.inference and the predict CLI on the embedded CinC 2017 sample.

The model is an untrained classifier on the default config: raw-signal inference must give the
same numbers as the TFRecord path whatever the weights are.
"""
import json

import numpy as np
import pytest

from ecgsl_keras import tasks
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.errors import ConfigError, RecordError, SignalQualityError
from ecgsl_keras.serving.inference import combine_attention, load_model, window_starts
from helpers import save_run_folder, untrained_cinc2017_run

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_inference")

# Records of the embedded sample used here (a short and a long one, and one more).
RECORDS = ("A03858", "A04483", "A03565")   # 30 s normal, 60 s normal, 10.5 s noisy


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder as training leaves it: model.keras and config.json (config + task)."""
    return untrained_cinc2017_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def predictor(run_dir):
    return load_model(run_dir / "model.keras")


@pytest.fixture(scope="module")
def sample_reader(cinc_dir):
    from ecgsl_keras.data.datasets import open_dataset

    return open_dataset("cinc2017", cinc_dir)


def _long_record(sample_reader):
    """A recording longer than max_beats beats: a sample record repeated end to end."""
    from ecgsl_keras.data.datasets.base import Record

    record = sample_reader.load(RECORDS[1])
    signal = np.tile(record.signal, (3, 1))   # 3 minutes: more than max_beats beats
    return Record(record_id="long", signal=signal, fs=record.fs, lead_names=record.lead_names, source="cinc2017",
                  labels=record.labels)


def _tfrecord_path_probabilities(predictor, cinc_dir, long_record, out_dir):
    """The evaluation path: prepare (the sample records) and record_to_examples + ShardedWriter (the
    long one) -> make_dataset windows -> Keras model -> ecgsl_keras.evaluation.evaluate's per-record average."""
    from ecgsl_keras.evaluation import evaluate
    from ecgsl_keras.data.prepare import prepare, record_to_examples
    from tfrecords_tools import ShardedWriter

    config, task = predictor.config, predictor.task
    prepare("cinc2017", cinc_dir, out_dir / "sample", config, split="all", records=RECORDS, progress=False)
    with ShardedWriter(out_dir / "long", prefix="long") as writer:
        for example in record_to_examples(long_record, config, task):
            writer.write(example, split="train")
        writer.finalize({"signal_config": config.signal.to_dict(),
                         "label_info": {"kind": task.kind, "label_names": list(task.label_names), "task": task.to_dict()}})
    expected, windows = {}, {}
    for folder in ("sample", "long"):
        found = evaluate.predict_windows(predictor.backend.classifier,
                                         evaluate.eval_dataset(out_dir / folder, "train", config, task, batch_size=8))
        aggregated = evaluate.aggregate(found, task.kind)
        expected.update(zip(aggregated["keys"], aggregated["probabilities"]))
        windows.update({rid: int(np.sum(found["record_id"] == rid)) for rid in aggregated["keys"]})
    return expected, windows


def test_raw_signal_matches_the_tfrecord_path(predictor, sample_reader, cinc_dir, tmp_path):
    long_record = _long_record(sample_reader)
    records = [sample_reader.load(rid) for rid in RECORDS] + [long_record]
    expected, windows = _tfrecord_path_probabilities(predictor, cinc_dir, long_record, tmp_path)
    assert sorted(expected) == sorted(r.record_id for r in records)
    assert windows["long"] > 1, "the long record must span several windows"
    for record in records:
        result = predictor.predict_signal(record.lead(None), record.fs, path=record.record_id)
        np.testing.assert_allclose(result["probabilities"], expected[record.record_id], atol=1e-5,
                                   err_msg=record.record_id)
        assert result["n_windows"] == windows[record.record_id]
        n = result["n_beats"]
        assert result["beat_times_s"].shape == (n,) and result["attention_weights"].shape == (n,)
        assert np.all(np.diff(result["beat_times_s"]) > 0)
        assert 0 < result["beat_times_s"][-1] <= record.duration_s
        assert abs(float(result["attention_weights"].sum()) - 1.0) < 1e-5
        assert result["label"] == tasks.CINC2017.label_names[result["label_index"]]
        assert result["label_index"] == int(np.argmax(result["probabilities"]))


def test_single_window_attention_is_the_models_own(predictor, sample_reader):
    record = sample_reader.load(RECORDS[0])
    beats = predictor.preprocess(record.lead(None), record.fs)
    result = predictor.predict_signal(record.lead(None), record.fs)
    n = len(beats)
    assert n < predictor.max_beats and result["n_windows"] == 1
    padded_beats = np.zeros((1, predictor.max_beats, beats.beats.shape[1]), np.float32)
    padded_rr = np.zeros((1, predictor.max_beats, beats.rr.shape[1]), np.float32)
    mask = np.zeros((1, predictor.max_beats), bool)
    padded_beats[0, :n], padded_rr[0, :n], mask[0, :n] = beats.beats, beats.rr, True
    _, attention = predictor.predict_batch(padded_beats, padded_rr, mask)
    np.testing.assert_allclose(result["attention_weights"], attention[0, :n], atol=1e-6)
    assert float(np.abs(attention[0, n:]).max()) < 1e-6   # nothing on padding


def test_window_starts_and_attention_combination():
    assert window_starts(5, 128, 64) == [0]
    assert window_starts(128, 128, 64) == [0]
    assert window_starts(200, 128, 64) == [0, 64, 72]
    starts = window_starts(10, 4, 2)                   # [0, 2, 4, 6]
    assert starts == [0, 2, 4, 6]
    # window w gives beat position i the weight (i + 1) * (w + 1); centres at 1.5, 3.5, 5.5, 7.5
    attention = np.arange(1, 5, dtype=np.float32)[None, :] * np.arange(1, 5, dtype=np.float32)[:, None]
    combined = combine_attention(attention, starts, 10, 4)
    # each beat from the window whose centre is nearest: beats 0-2 window 0, 3-4 window 1,
    # 5-6 window 2, 7-9 window 3
    raw = np.array([1 * 1, 2 * 1, 3 * 1, 2 * 2, 3 * 2, 2 * 3, 3 * 3, 2 * 4, 3 * 4, 4 * 4], np.float64)
    np.testing.assert_allclose(combined, raw / raw.sum(), rtol=1e-6)


def test_signal_windows_average_the_windows_of_the_end_to_end_file(run_dir, predictor, sample_reader):
    """TrainConfig.predict_window_s (the cinc2017-edge preset): a record over 30 s is classified in the
    signal windows the end-to-end file takes (serving.edge.window_starts on the record at target_fs),
    each preprocessed alone, probabilities averaged; a record of 30 s or less is classified whole."""
    import dataclasses

    from ecgsl_keras.data import signal as signal_lib
    from ecgsl_keras.serving import edge

    config = predictor.config
    windowed = load_model(run_dir / "model.keras", config=dataclasses.replace(
        config, train=dataclasses.replace(config.train, predict_window_s=edge.EdgeConfig().window_s)))
    rate = config.signal.target_fs
    window = int(edge.EdgeConfig().window_s * rate)
    record = sample_reader.load("A07742")                  # 49.5 s at 300 Hz: windows 0-30 s and 19.5-49.5 s
    x, fs = record.lead(), float(record.fs)
    at_rate = signal_lib.resample(x, fs, rate)
    starts = edge.window_starts(len(at_rate), window)      # what edge.classify_record feeds the file
    assert starts == [0, len(at_rate) - window]
    ranges = windowed.signal_windows(len(x), fs)
    assert ranges == [(int(round(s * fs / rate)), min(int(round((s + window) * fs / rate)), len(x))) for s in starts]
    assert ranges[-1][1] == len(x) and ranges[0][0] == 0
    out = windowed.predict_signal(x, fs)
    parts = [predictor.predict_signal(x[a:b], fs) for a, b in ranges]    # each window alone, 30 s: whole
    assert out["n_windows"] == 2
    np.testing.assert_allclose(out["probabilities"], np.mean([p["probabilities"] for p in parts], axis=0), atol=1e-6)
    whole = predictor.predict_signal(x, fs)
    assert whole["n_windows"] == 1 and not np.allclose(whole["probabilities"], out["probabilities"], atol=1e-6)
    # every beat once: the first window's beats, then the second window's past the overlap
    times = out["beat_times_s"]
    assert np.all(np.diff(times) > 0.15)
    first = parts[0]["beat_times_s"]
    np.testing.assert_allclose(times[:first.size], first, atol=1.5 / fs)
    assert out["n_beats"] == times.size == out["attention_weights"].size
    assert first.size < times.size < first.size + parts[1]["beat_times_s"].size
    assert abs(float(out["attention_weights"].sum()) - 1.0) < 1e-5
    # 30 s or less: one window, the whole record, as before
    short = sample_reader.load(RECORDS[0]).lead()           # 30 s
    assert windowed.signal_windows(len(short), fs) is None
    np.testing.assert_array_equal(windowed.predict_signal(short, fs)["probabilities"],
                                  predictor.predict_signal(short, fs)["probabilities"])
    with pytest.raises(ConfigError):
        ExperimentConfig.from_dict({"train": {"predict_window_s": -1}})


@pytest.mark.parametrize("make_signal, fs, reason", [
    (lambda x: x[:150], 300, "too_short"),                                 # 0.5 s
    (lambda x: np.where(np.arange(x.size) == 500, np.nan, x), 300, "nan"),
    (lambda x: np.stack([x, x], axis=1), 300, "bad_shape"),                # rank 2
    (lambda x: x, 10, "bad_rate"),
    (lambda x: x, 50000, "bad_rate"),
    (lambda x: np.zeros_like(x), 300, "flat"),
])
def test_bad_inputs_raise_project_errors(predictor, sample_reader, make_signal, fs, reason):
    signal = sample_reader.load(RECORDS[0]).lead(None)
    with pytest.raises(SignalQualityError) as info:
        predictor.predict_signal(make_signal(signal), fs, path="bad-input")
    assert info.value.reason == reason
    assert "bad-input" in str(info.value)


def test_load_model_errors(tmp_path, run_dir):
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "missing.keras")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "model.keras").write_bytes((run_dir / "model.keras").read_bytes())
    with pytest.raises(ConfigError, match="no config and task found"):
        load_model(lonely / "model.keras")
    # explicit config and task make it loadable
    p = load_model(lonely / "model.keras", config=ExperimentConfig(), task="cinc2017")
    assert p.task is tasks.CINC2017 and p.format == "keras"
    with pytest.raises(ConfigError, match="expected a .keras file"):
        load_model(run_dir / "config.json")


def test_predict_cli(run_dir, cinc_dir, predictor, capsys):
    from ecgsl_keras.cli import predict
    from ecgsl_keras.data.readers import read_lead

    record = str(cinc_dir / RECORDS[1])
    assert predict.main(["--model", str(run_dir / "model.keras"), "--record", record]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    signal, fs, lead = read_lead(record)
    expected = predictor.predict_signal(signal, fs)
    assert list(out["probabilities"]) == list(tasks.CINC2017.label_names)
    # rounded to 3 places in the JSON (cli.report.rounded)
    np.testing.assert_allclose(list(out["probabilities"].values()), expected["probabilities"], atol=5e-4)
    assert out["label"] == expected["label"] and out["fs"] == 300.0 and out["lead"] == lead
    assert len(out["attention_weights"]) == len(out["beat_times_s"]) == out["n_beats"]

    assert predict.main(["--model", str(run_dir / "model.keras"), "--record", str(cinc_dir / "NOPE")]) == 2
    assert "NOPE" in capsys.readouterr().err
    assert predict.main(["--model", str(run_dir / "model.keras"), "--record", record, "--lead", "V9"]) == 2
    assert "V9" in capsys.readouterr().err


def test_read_lead_converts_units(tmp_path):
    import wfdb

    rng = np.random.default_rng(0)
    mv = rng.normal(size=(1000, 2)) * 0.5
    wfdb.wrsamp("rec", fs=250, units=["uV", "mV"], sig_name=["I", "II"], p_signal=mv * np.array([1000.0, 1.0]),
                fmt=["32", "32"], adc_gain=[1000.0, 1000.0], baseline=[0, 0], write_dir=str(tmp_path))
    from ecgsl_keras.data.readers import read_lead

    signal, fs, lead = read_lead(tmp_path / "rec", "I")
    assert (fs, lead) == (250.0, "I")
    np.testing.assert_allclose(signal, mv[:, 0], atol=2e-3)
    signal, _, lead = read_lead(tmp_path / "rec")
    assert lead == "I"
    with pytest.raises(RecordError):
        read_lead(tmp_path / "rec", "aVR")


def test_multilabel_model_uses_the_runs_thresholds(tmp_path):
    import keras

    from ecgsl_keras.modeling import models

    task = tasks.PTBXL_SUPERDIAGNOSTIC
    config = ExperimentConfig()
    save_run_folder(models.build_classifier(config.model, task), tmp_path, config, task)
    thresholds = [0.5, 0.2, 0.9, 0.5, 0.05]
    (tmp_path / "thresholds.json").write_text(json.dumps({"thresholds": thresholds, "label_names": list(task.label_names)}))
    predictor = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(predictor.thresholds, thresholds)
    label, index = predictor.decide(np.array([0.6, 0.3, 0.8, 0.1, 0.06]))
    assert (label, index) == (["NORM", "MI", "HYP"], [0, 1, 4])
    keras.backend.clear_session()

"""ecgsl_keras.serving.export: SavedModel and TFLite (float32, float16, int8) against the Keras model, run with
LiteRT, on the embedded CinC 2017 sample prepared to TFRecords."""
import json
import os
import stat

import numpy as np
import pytest

from ecgsl_keras import tasks
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.errors import ECGSLError
from ecgsl_keras.cli import export as export_cli
from helpers import export_experiment_config, save_run_folder

pytestmark = [
    pytest.mark.slow,
    # one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
    pytest.mark.xdist_group("test_export"),
    # raised inside TensorFlow's converter (int8 calibration) and by Keras fit on a finite tf.data set
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*shuffle=True. was passed:UserWarning"),
    pytest.mark.filterwarnings("ignore:Your input ran out of data:UserWarning"),
]

EXAMPLES = 48   # calibration windows and parity windows


CONFIG = export_experiment_config()   # the three TFLite conversions took most of this module's time


@pytest.fixture(scope="module")
def prepared(cinc_sample_tfrecords):
    """The session's prepared sample (the default ExperimentConfig's beats; only read here): preparing it
    again would give the same examples in other shard sizes."""
    return cinc_sample_tfrecords


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, prepared):
    """A classifier trained briefly on the sample's train split (so that its outputs are not uniform)."""
    import keras

    from ecgsl_keras.modeling import models
    from tfrecords_tools import make_dataset

    keras.utils.set_random_seed(0)
    config = CONFIG
    model = models.build_classifier(config.model, tasks.CINC2017)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)   # slots before fit: the train step is traced once, not twice
    model.fit(make_dataset(prepared, split="train", training=True, batch_size=16, seed=0), epochs=2, verbose=0)
    return save_run_folder(model, tmp_path_factory.mktemp("run"), config, tasks.CINC2017)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, run_dir, prepared):
    from ecgsl_keras.serving.export import export_model

    out = tmp_path_factory.mktemp("exports") / "cinc2017"
    report = export_model(run_dir / "model.keras", out, representative_data=prepared, examples=EXAMPLES)
    return out, report


def test_export_writes_every_file_and_metadata(exported):
    out, report = exported
    for name in ("saved_model/saved_model.pb", "model_float32.tflite", "model_float16.tflite", "model_int8.tflite",
                 "config.json", "ecgsl_metadata.json", "export_report.json"):
        assert (out / name).is_file(), name
    assert not list(out.parent.glob(".cinc2017.tmp-*")), "temporary folder left behind"
    # written without the tables LiteRT never reads (tflite_file): a second strip finds nothing to remove
    from ecgsl_keras.serving import tflite_file

    for name in ("model_float32.tflite", "model_float16.tflite", "model_int8.tflite"):
        data = (out / name).read_bytes()
        assert tflite_file.strip_empty_tables(data) == data, name
        described = tflite_file.describe(data)    # (not a no-op strip: the converter writes one table per tensor)
        assert described["quantization_tables"] < described["tensors"] // 2, name
    # readable by everyone (less the umask): not mkdtemp's 0700 nor mkstemp's 0600
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755 & ~mask
    assert stat.S_IMODE((out / "saved_model").stat().st_mode) == 0o755 & ~mask
    for name in ("ecgsl_metadata.json", "export_report.json", "model_int8.tflite"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644 & ~mask, name
    metadata = json.loads((out / "ecgsl_metadata.json").read_text())
    assert metadata["label_names"] == list(tasks.CINC2017.label_names)
    assert metadata["inputs"]["padding_mask"]["dtype"] == "bool"
    assert ExperimentConfig.load(out / "config.json") == CONFIG
    assert json.loads((out / "export_report.json").read_text()) == report
    sizes = report["sizes_bytes"]
    assert sizes["tflite_float16"] < sizes["tflite_float32"]
    assert sizes["tflite_int8"] < sizes["tflite_float16"]


def test_parity_with_keras(exported):
    _, report = exported
    parity = report["parity"]
    assert parity["saved_model"]["examples"] == EXAMPLES
    assert parity["saved_model"]["max_abs_diff_probabilities"] < 1e-4
    assert parity["tflite_float32"]["max_abs_diff_probabilities"] < 1e-4
    assert parity["tflite_float16"]["max_abs_diff_probabilities"] < 1e-2
    assert parity["saved_model"]["class_agreement"] == 1.0
    assert parity["tflite_float32"]["class_agreement"] == 1.0
    assert report["int8_class_agreement_percent"] == parity["tflite_int8"]["class_agreement_percent"]
    assert parity["tflite_int8"]["class_agreement"] >= 0.95, parity["tflite_int8"]
    # the windows checked hold different numbers of real beats
    data = report["parity_data"]
    assert data["windows_with_padding"] > 0 and data["real_beats_min"] < data["real_beats_max"]


def test_signature_of_saved_model_and_tflite(exported):
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    out, _ = exported
    signature = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert inputs["beats"].shape.as_list() == [None, 128, 96]
    assert inputs["rr"].shape.as_list() == [None, 128, 3]
    assert inputs["padding_mask"].shape.as_list() == [None, 128] and inputs["padding_mask"].dtype == tf.bool
    assert set(signature.structured_outputs) == {"probabilities", "attention_weights"}
    interpreter = Interpreter(model_path=str(out / "model_int8.tflite"))
    listed = interpreter.get_signature_list()["serving_default"]
    assert sorted(listed["inputs"]) == ["beats", "padding_mask", "rr"]
    assert sorted(listed["outputs"]) == ["attention_weights", "probabilities"]


@pytest.mark.parametrize("n_beats", [3, 17, 128, 300])
def test_every_format_handles_variable_beat_counts(exported, run_dir, n_beats):
    """Sequences of any length: padded to max_beats (or windowed), the same answer in every format."""
    from ecgsl_keras.serving.inference import load_model

    out, _ = exported
    rng = np.random.default_rng(n_beats)
    beats = rng.normal(size=(n_beats, 96)).astype(np.float32)
    rr = rng.uniform(0.5, 1.2, size=(n_beats, 3)).astype(np.float32)
    reference = load_model(run_dir / "model.keras")
    ref_p, ref_a, starts = reference.predict_beats(beats, rr)
    for path, tolerance in ((out / "saved_model", 1e-4), (out / "model_float32.tflite", 1e-4),
                            (out / "model_float16.tflite", 1e-2)):
        predictor = load_model(path)
        p, a, s = predictor.predict_beats(beats, rr)
        assert s == starts and a.shape == (n_beats,)
        np.testing.assert_allclose(p, ref_p, atol=tolerance, err_msg=str(path))
        np.testing.assert_allclose(a, ref_a, atol=tolerance * 10, err_msg=str(path))


def test_raw_signal_in_every_format(exported, run_dir, cinc_dir):
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.data.readers import read_lead

    out, _ = exported
    signal, fs, _ = read_lead(cinc_dir / "A01045")
    reference = load_model(run_dir / "model.keras").predict_signal(signal, fs)
    for path in (out, out / "saved_model", out / "model_float32.tflite", out / "model_int8.tflite"):
        result = load_model(path).predict_signal(signal, fs)
        tolerance = 5e-2 if "int8" in str(path) else 1e-4
        np.testing.assert_allclose(result["probabilities"], reference["probabilities"], atol=tolerance, err_msg=str(path))
        np.testing.assert_array_equal(result["beat_times_s"], reference["beat_times_s"])


def test_export_refuses_to_overwrite_and_cli(run_dir, prepared, tmp_path, capsys):
    from ecgsl_keras.serving import export

    out = tmp_path / "export"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier export")
    with pytest.raises(ECGSLError, match="--overwrite"):
        export.export_model(run_dir / "model.keras", out, representative_data=prepared)
    assert export_cli.main(["--model", str(run_dir / "model.keras"), "--out", str(out), "--tflite"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    # SavedModel only, replacing the folder
    code = export_cli.main(["--model", str(run_dir / "model.keras"), "--out", str(out), "--tflite",
                        "--representative-data", str(prepared), "--examples", "8", "--overwrite"])
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(report["parity"]) == {"saved_model"} and report["int8_class_agreement_percent"] is None
    assert report["parity"]["saved_model"]["max_abs_diff_probabilities"] < 1e-4
    assert not (out / "keep.txt").exists() and (out / "saved_model" / "saved_model.pb").is_file()
    assert not list(tmp_path.glob(".export.*")), "temporary or old folder left behind"
    # full-integer int8, calibrated on the embedded sample (no --representative-data): it converts,
    # runs in LiteRT and the report states its agreement, whatever it is
    code = export_cli.main(["--model", str(run_dir / "model.keras"), "--out", str(out), "--tflite", "int8",
                        "--int8-mode", "full", "--examples", "8", "--overwrite"])
    assert code == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["int8_mode"] == "full" and report["parity_data"]["data"] == "embedded cinc2017_sample"
    assert 0.0 <= report["int8_class_agreement_percent"] <= 100.0
    assert report["parity"]["tflite_int8"]["examples"] == 8


def test_inference_bench(exported, run_dir, prepared, capsys):
    from ecgsl_keras.bench import __main__ as bench_main

    out, _ = exported
    code = bench_main.main(["inference", "--model", str(run_dir / "model.keras"), "--data", str(prepared),
                            "--export-dir", str(out), "--runs", "5", "--batch-size", "4",
                            "--repeats", "2", "--min-seconds", "0.2"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["formats"]) == {"keras", "saved_model", "tflite_float32", "tflite_float16", "tflite_int8"}
    for row in result["formats"].values():
        assert 0 < row["latency_ms"]["median"] <= row["latency_ms"]["p95"] and row["records_per_s"] > 0
    assert result["input_shape"] == [128, 96] and result["preprocess_ms_per_30s"]["records"] > 0

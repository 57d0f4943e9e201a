"""Remote storage through tf.io.gfile (issue 12): TensorFlow's in-memory ``ram://`` filesystem stands for
``gs://``; nothing below touches a local path for the data, so every access goes through gfile."""
import json

import numpy as np
import pytest
from helpers import tiny_experiment_config

from ecgsl_keras.cli.prepare import main as prepare_main
from ecgsl_keras.data.prepare import prepare


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_prepare_to_ram_and_read_back_with_make_dataset(cinc_dir, capsys):
    import tensorflow as tf

    from tfrecords_tools import load_manifest, make_dataset
    from tfrecords_tools.__main__ import verify

    out = "ram://issue12/prepared"
    summary = prepare("cinc2017", cinc_dir, out, limit=8, progress=False)
    assert summary["records_written"] == 8
    names = tf.io.gfile.listdir(out)
    assert "manifest.json" in names and not any(n.startswith(".staging") for n in names)
    manifest = load_manifest(out)
    assert manifest["totals"]["examples"] == 8
    batches = list(make_dataset(out, split="train", training=False, batch_size=4, max_beats=16))
    assert sum(int(f["beats"].shape[0]) for f, _ in batches) >= manifest["splits"]["train"]["examples"]
    assert np.isfinite(batches[0][0]["beats"].numpy()).all()
    # a rerun without --overwrite is refused, naming the URI; with --overwrite it replaces the shards
    assert prepare_main(["--dataset", "cinc2017", "--data-dir", str(cinc_dir), "--out", out, "--limit", "4",
                         "--no-progress"]) == 2
    assert out in capsys.readouterr().err
    prepare("cinc2017", cinc_dir, out, limit=4, overwrite=True, progress=False)
    assert load_manifest(out)["totals"]["examples"] == 4
    assert verify(out)["ok"]                      # SHA-256 and parse of every shard, through gfile


def test_unreachable_bucket_is_a_clear_error_naming_the_path(cinc_dir, capsys):
    out = "nosuchfs://bucket/prepared"          # a scheme TensorFlow has no filesystem for
    assert prepare_main(["--dataset", "cinc2017", "--data-dir", str(cinc_dir), "--out", out, "--limit", "2",
                         "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert out in err and "Traceback" not in err


@pytest.mark.slow   # prepare + one tiny training epoch + SavedModel/TFLite export, all on ram://
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_prepare_train_export_on_ram_without_litert(cinc_dir, monkeypatch, capsys, caplog, tmp_path):
    """The whole chain on ram:// (data, run folder, export), with LiteRT "not installed": the export
    writes its files and reports the SavedModel parity, and says the TFLite parity needs the extra."""
    import sys

    import tensorflow as tf

    from ecgsl_keras.cli.export import main as export_main
    from ecgsl_keras.cli.train import main as train_main

    for name in [m for m in sys.modules if m == "ai_edge_litert" or m.startswith("ai_edge_litert.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    data, run, export = "ram://chain/data", "ram://chain/run", "ram://chain/export"
    # the tiny model (a local config file, as --config reads one): the chain's storage is tested, not the model
    config = tmp_path / "config.json"
    tiny_experiment_config().save(config)
    prepare("cinc2017", cinc_dir, data, limit=12, progress=False)
    assert train_main(["--stage", "supervised", "--data", data, "--run-dir", run, "--epochs", "1", "--batch-size", "4",
                       "--verbose", "0", "--no-augment", "--config", str(config)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["run_dir"] == run and summary["model"] == run + "/model.keras"
    names = set(tf.io.gfile.listdir(run))
    assert {"model.keras", "last.keras", "config.json", "history.csv", "metrics.json"} <= names
    assert export_main(["--model", run + "/model.keras", "--out", export, "--tflite", "float32", "--examples", "4",
                        "--representative-data", data]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["out"] == export
    assert {"saved_model", "model_float32.tflite", "ecgsl_metadata.json", "export_report.json"} <= set(
        n.rstrip("/") for n in tf.io.gfile.listdir(export))
    assert json.loads(tf.io.gfile.GFile(export + "/export_report.json").read())["out"] == export
    assert report["parity"]["saved_model"]["max_abs_diff_probabilities"] < 1e-4
    assert "tflite_float32" not in report["parity"] and '".[litert]"' in report["tflite_parity"]
    assert f"{export}/model_float32.tflite" in report["tflite_parity"]   # the final path, not a temporary one
    assert any('".[litert]"' in r.getMessage() for r in caplog.records)
    # a second export to the same URI is refused without --overwrite, naming it
    assert export_main(["--model", run + "/model.keras", "--out", export, "--tflite"]) == 2
    assert export in capsys.readouterr().err

"""The pictures: evaluate --plots, plot history, predict --plot (matplotlib Agg, fixed pixel sizes)."""
import dataclasses
import json

import numpy as np
import pytest

from ecgsl_keras import tasks

from ecgsl_keras.evaluation import plot
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.cli import plot as plot_cli
from ecgsl_keras.cli import evaluate as evaluate_cli
from helpers import save_run_folder


def _png_size(path):
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def _px(figsize):
    return int(figsize[0] * plot.DPI), int(figsize[1] * plot.DPI)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import keras

    from ecgsl_keras.modeling import models

    keras.utils.set_random_seed(0)
    base = ExperimentConfig()
    config = dataclasses.replace(base, model=dataclasses.replace(
        base.model, conv_filters=(8, 8, 8), embed_dim=16, d_model=16, num_heads=2, num_layers=1, ff_dim=32,
        attention_units=16, head_units=16))
    model = models.build_classifier(config.model, tasks.CINC2017)
    folder = save_run_folder(model, tmp_path_factory.mktemp("run"), config, tasks.CINC2017)
    # history.csv as keras.callbacks.CSVLogger writes it in train
    (folder / "history.csv").write_text("epoch,accuracy,loss,val_accuracy,val_loss,val_macro_f1,learning_rate\n"
                                        "0,0.5,1.2,0.55,1.1,0.40,0.001\n1,0.6,1.0,0.62,0.9,0.52,0.0005\n"
                                        "2,0.7,0.8,0.66,0.85,0.58,0.00025\n")
    return folder


def test_evaluate_plots(run_dir, cinc_sample_tfrecords, tmp_path, capsys):
    from ecgsl_keras.evaluation import evaluate

    out_dir = tmp_path / "plots"
    assert evaluate_cli.main(["--model", str(run_dir), "--data", str(cinc_sample_tfrecords), "--plots", str(out_dir)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["plots"]) == {"confusion_matrix", "roc", "reliability"}
    for path in result["plots"].values():
        assert path.startswith(str(out_dir)) and _png_size(path) == _px(plot.SQUARE_FIGSIZE)


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
def test_evaluation_plots_other_task_kinds(kind, tmp_path):
    rng = np.random.default_rng(0)
    if kind == "binary":
        task = tasks.task_from_labels("apnea_like", ["normal", "apnea"], tasks.BINARY)
        targets, probs = rng.integers(0, 2, 40), rng.random(40)
    else:
        task = tasks.task_from_labels("ml", ["a", "b", "c"], tasks.MULTILABEL)
        targets, probs = rng.integers(0, 2, (40, 3)), rng.random((40, 3))
    paths = plot.evaluation_plots(task, targets, probs, tmp_path, prefix=f"{kind}_")
    for path in paths.values():
        assert _png_size(path) == _px(plot.SQUARE_FIGSIZE)


def test_plot_history_cli(run_dir, tmp_path, capsys):
    assert plot_cli.main(["history", str(run_dir)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["epochs"] == 3 and out["plot"] == str(run_dir / "history.png")
    assert _png_size(out["plot"]) == _px(plot.HISTORY_FIGSIZE)
    # a folder without history.csv: a message, not a traceback
    assert plot_cli.main(["history", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "history.csv" in err and "Traceback" not in err


def test_predict_plot(run_dir, cinc_dir, tmp_path, capsys):
    from ecgsl_keras.cli import predict

    png = tmp_path / "record.png"
    assert predict.main(["--model", str(run_dir / "model.keras"), "--record", str(cinc_dir / "A04483"), "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["plot"] == str(png) and png.stat().st_size > 10_000
    assert _png_size(png) == _px(plot.RECORD_FIGSIZE)

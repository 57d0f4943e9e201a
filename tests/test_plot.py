"""The pictures: evaluate --plots, plot history, predict --plot (matplotlib Agg, fixed pixel sizes).

Each figure is captured (matplotlib objects) as ``plot.save`` writes it, and its content is checked:
titles, axis labels, the numbers drawn in the confusion matrix, the AUCs in the ROC legend, the curves
of the history, the R-peaks and attention bars of a record, against values recomputed here."""
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras import tasks

from ecgsl_keras.evaluation import plot
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.cli import plot as plot_cli
from ecgsl_keras.cli import evaluate as evaluate_cli
from ecgsl_keras.cli import predict as predict_cli
from helpers import save_run_folder

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_plot")


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


def _describe(fig):
    from matplotlib.patches import Rectangle

    axes = []
    for ax in fig.axes:
        legend = ax.get_legend()
        axes.append({
            "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "lines": [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float), line.get_label())
                      for line in ax.get_lines()],
            "texts": [t.get_text() for t in ax.texts],
            "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
            "bars": [p.get_height() for p in ax.patches if isinstance(p, Rectangle)],
            "images": [np.asarray(image.get_array()) for image in ax.images],
            "yscale": ax.get_yscale(),
        })
    return axes


@pytest.fixture
def figures(monkeypatch):
    """{file name: [one dict per axes]} of every figure saved while the test runs."""
    captured = {}
    real_save = plot.save

    def save(fig, path):
        captured[Path(path).name] = _describe(fig)
        return real_save(fig, path)

    monkeypatch.setattr(plot, "save", save)
    monkeypatch.setattr(plot_cli, "save", save)
    return captured


def _legend_aucs(labels, with_n=False):
    """{class: AUC} from the ROC legend ("N (AUC 0.912, n=20)"); ``with_n``: {class: (AUC, n)}."""
    found = (re.fullmatch(r"(.+) \(AUC ([0-9.]+), n=(\d+)\)", t) for t in labels)
    return {m.group(1): (float(m.group(2)), int(m.group(3))) if with_n else float(m.group(2)) for m in found if m}


def _check_confusion_figure(axes, matrix, xticks=True, shares=True):
    """Counts and row percentages drawn row by row; the colours are the row shares (``shares``) or the counts."""
    (ax,) = axes
    matrix = np.asarray(matrix)
    if not shares:
        np.testing.assert_array_equal(ax["images"][0], matrix)                  # the picture is the matrix
        assert ax["texts"] == [str(int(v)) for v in matrix.reshape(-1)]          # row by row, as drawn
        return
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    np.testing.assert_allclose(ax["images"][0], share)
    assert ax["texts"] == [f"{int(v)}\n{100 * p:.1f}%" for v, p in zip(matrix.reshape(-1), share.reshape(-1))]


def test_evaluate_plots(run_dir, cinc_sample_tfrecords, tmp_path, capsys, figures):
    out_dir = tmp_path / "plots"
    assert evaluate_cli.main(["--model", str(run_dir), "--data", str(cinc_sample_tfrecords), "--plots", str(out_dir)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result["plots"]) == {"confusion_matrix", "roc", "reliability"}
    for path in result["plots"].values():
        assert path.startswith(str(out_dir)) and _png_size(path) == _px(plot.SQUARE_FIGSIZE)
    # the confusion matrix drawn is the one evaluate reports (13 validation records)
    confusion = figures["confusion_matrix.png"]
    # the title names the model and the data (short names), the rows their counts
    assert confusion[0]["title"] == "confusion matrix: counts and % of each true class\n" \
        f"{run_dir.parent.name}/{run_dir.name} on {cinc_sample_tfrecords.parent.name}/data (validation)"
    assert (confusion[0]["xlabel"], confusion[0]["ylabel"]) == ("predicted", "true")
    _check_confusion_figure(confusion, result["confusion_matrix"])
    assert np.asarray(result["confusion_matrix"]).sum() == 13
    # one ROC curve per class present in the records, each labelled with the AUC evaluate reports
    (roc,) = figures["roc.png"]
    assert roc["title"].startswith("ROC, one class vs the rest\n")
    aucs = _legend_aucs(roc["legend"], with_n=True)
    expected = {name: value for name, value in result["per_class_auroc"].items() if value is not None}
    assert sorted(aucs) == sorted(expected) and expected
    matrix = np.asarray(result["confusion_matrix"])
    for name, value in expected.items():
        assert aucs[name][0] == pytest.approx(value, abs=5e-4), name
        assert aucs[name][1] == matrix[result["label_names"].index(name)].sum(), name   # n: the class's records
    assert len(roc["lines"]) == len(expected) + 1                              # + the chance diagonal
    # reliability: one bar per bin, the shares of the 13 predictions
    (reliability,) = figures["reliability.png"]
    ece = re.match(r"reliability diagram, ECE ([0-9.]+) \(n=13; numbers: predictions per bin\)\n", reliability["title"])
    assert ece and 0.0 <= float(ece.group(1)) <= 1.0
    assert len(reliability["bars"]) == plot.RELIABILITY_BINS
    assert sum(reliability["bars"]) == pytest.approx(1.0)
    assert all(round(share * 13) == pytest.approx(share * 13, abs=1e-6) for share in reliability["bars"])
    # the count over each non-empty bin, summing to the 13 records
    assert [int(t) for t in reliability["texts"]] == [round(share * 13) for share in reliability["bars"] if share]
    assert any(label.startswith(f"model (ECE {ece.group(1)})") for label in reliability["legend"])


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
def test_evaluation_plots_other_task_kinds(kind, tmp_path, figures):
    from sklearn.metrics import confusion_matrix, roc_auc_score

    rng = np.random.default_rng(0)
    if kind == "binary":
        task = tasks.task_from_labels("apnea_like", ["normal", "apnea"], tasks.BINARY)
        targets, probs = rng.integers(0, 2, 40), rng.random(40)
        matrix = confusion_matrix(targets, (probs > 0.5).astype(int), labels=[0, 1])
        expected_aucs = {"normal": roc_auc_score(1 - targets, 1 - probs), "apnea": roc_auc_score(targets, probs)}
    else:
        task = tasks.task_from_labels("ml", ["a", "b", "c"], tasks.MULTILABEL)
        targets, probs = rng.integers(0, 2, (40, 3)), rng.random((40, 3))
        predicted = probs >= 0.5
        matrix = np.stack([((predicted & (targets == 1)).sum(0)), ((~predicted & (targets == 1)).sum(0))], axis=1)
        expected_aucs = {name: roc_auc_score(targets[:, c], probs[:, c]) for c, name in enumerate("abc")}
    paths = plot.evaluation_plots(task, targets, probs, tmp_path, prefix=f"{kind}_")
    for path in paths.values():
        assert _png_size(path) == _px(plot.SQUARE_FIGSIZE)
    confusion = figures[f"{kind}_confusion_matrix.png"]
    assert confusion[0]["title"] == ("confusion matrix: counts and % of each true class" if kind == "binary"
                                     else "positives per class (threshold 0.5)")
    _check_confusion_figure(confusion, matrix, shares=kind == "binary")
    aucs = _legend_aucs(figures[f"{kind}_roc.png"][0]["legend"])
    assert sorted(aucs) == sorted(expected_aucs)
    for name, value in expected_aucs.items():
        assert aucs[name] == pytest.approx(value, abs=5e-4), name
    reliability = figures[f"{kind}_reliability.png"][0]
    assert reliability["xlabel"] == "predicted probability (" + \
        ("every class probability" if kind == "multilabel" else "top-label confidence") + ")"


def test_plot_history_cli(run_dir, tmp_path, capsys, figures):
    assert plot_cli.main(["history", str(run_dir)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["epochs"] == 3 and out["plot"] == str(run_dir / "history.png")
    assert _png_size(out["plot"]) == _px(plot.HISTORY_FIGSIZE)
    # one panel per metric (val_macro_f1 alone in its own), the curves are the CSV's values against epochs 1..3
    panels = {ax["title"]: ax for ax in figures["history.png"]}
    assert list(panels) == ["accuracy", "loss", "macro_f1", "learning_rate"]
    curves = {title: {label: (x, y) for x, y, label in ax["lines"] if not label.startswith("_")}
              for title, ax in panels.items()}
    # the best epoch (highest val_macro_f1: epoch 3) marked in every panel, named in the short title
    assert all(ax["legend"][-1] == "best epoch 3" for ax in panels.values())
    np.testing.assert_allclose(curves["loss"]["best epoch 3"][0], [3, 3])
    assert sorted(curves["accuracy"]) == ["best epoch 3", "train", "validation"]
    assert sorted(curves["macro_f1"]) == ["best epoch 3", "validation"]
    np.testing.assert_allclose(curves["accuracy"]["train"][0], [1, 2, 3])
    np.testing.assert_allclose(curves["accuracy"]["train"][1], [0.5, 0.6, 0.7])
    np.testing.assert_allclose(curves["loss"]["validation"][1], [1.1, 0.9, 0.85])
    np.testing.assert_allclose(curves["macro_f1"]["validation"][1], [0.40, 0.52, 0.58])
    np.testing.assert_allclose(curves["learning_rate"]["train"][1], [0.001, 0.0005, 0.00025])
    assert panels["learning_rate"]["yscale"] == "log" and panels["loss"]["yscale"] == "linear"
    assert all(ax["xlabel"] == "epoch" for ax in panels.values())
    fig = plot.history_figure(plot.read_history(run_dir), title="run0 (supervised, cinc2017)")
    assert fig._suptitle.get_text() == "run0 (supervised, cinc2017): best epoch 3 of 3 (val_macro_f1 = 0.580)"
    fig = plot.history_figure(plot.read_history(run_dir), best={"epoch": 2, "monitor": "val_loss", "value": 0.9})
    assert fig._suptitle.get_text() == "best epoch 2 of 3 (val_loss = 0.900)"
    # a folder without history.csv: a message, not a traceback
    assert plot_cli.main(["history", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "history.csv" in err and "Traceback" not in err


def test_predict_plot(run_dir, cinc_dir, tmp_path, capsys, figures):
    png = tmp_path / "record.png"
    assert predict_cli.main(["--model", str(run_dir / "model.keras"), "--record", str(cinc_dir / "A04483"),
                             "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["plot"] == str(png) and png.stat().st_size > 10_000
    assert _png_size(png) == _px(plot.RECORD_FIGSIZE)
    trace_ax, bars_ax = figures["record.png"]                  # the trace, then the attention panel above it
    assert (trace_ax["xlabel"], trace_ax["ylabel"]) == ("time (s)", "ECG (mV)")
    meaning = tasks.label_meaning(tasks.CINC2017, out["label"])
    assert bars_ax["title"] == f"A04483 lead {out['lead']}: {out['label']} = {meaning} " \
        f"(p = {out['probabilities'][out['label']]:.3f})" and bars_ax["ylabel"] == "attention"
    assert trace_ax["legend"] == ["beat window (model input)", "ECG", "R-peak"]
    lines = {label: (x, y) for x, y, label in trace_ax["lines"]}
    # the whole record is drawn, and one R-peak marker per beat the model saw, at its time
    signal_x = max((x for x, _, label in trace_ax["lines"] if label != "R-peak"), key=len)
    assert signal_x.size == int(round(out["duration_s"] * out["fs"]))
    window_starts = [x[0] for x, _, _ in trace_ax["lines"] if len(x) == 2 and x[0] == x[1]]   # dotted axvlines
    assert len(window_starts) == out["n_beats"]
    assert all(start < t for start, t in zip(window_starts, out["beat_times_s"]))   # each window starts before its R
    np.testing.assert_allclose(lines["R-peak"][0], out["beat_times_s"], atol=1e-6)
    assert len(out["beat_times_s"]) == out["n_beats"] > 20
    # one attention bar per beat, its height the beat's weight; the dashed line at 1/n
    np.testing.assert_allclose(bars_ax["bars"], out["attention_weights"], atol=6e-6)   # JSON: 5 places
    assert bars_ax["legend"] == ["uniform 1/n", "attention weight per beat"]
    np.testing.assert_allclose(bars_ax["lines"][0][1], 1.0 / out["n_beats"])


def test_saliency_zoom_strip(cinc_dir):
    """The zoomed strip: 5 s around the strongest second of saliency, marked on the whole record."""
    from ecgsl_keras.data.readers import read_lead

    signal, fs, _ = read_lead(cinc_dir / "A04483")
    saliency = np.zeros_like(signal)
    saliency[int(12.0 * fs): int(12.5 * fs)] = 1.0
    fig = plot.record_figure(signal, fs, rpeaks_s=np.array([11.9, 12.7]), saliency=saliency, zoom_s=plot.ZOOM_S,
                             title="t")
    whole, _bar, zoom = fig.axes
    lo, hi = zoom.get_xlim()
    assert hi - lo == pytest.approx(5.0, abs=1.0 / fs) and lo < 12.0 and hi > 12.5
    assert zoom.get_title() == f"zoom: {lo:.1f}-{hi:.1f} s (strongest saliency)"
    assert [t.get_text() for t in whole.get_legend().get_texts()] == ["ECG", "R-peak", "zoomed 5 s"]
    assert fig.get_size_inches().tolist() == list(plot.ZOOMED_RECORD_FIGSIZE)
    plot._pyplot().close(fig)


def test_per_beat_plot_strips_and_legend(fixtures_dir, tmp_path, capsys, monkeypatch):
    """predict --plot with a per-beat model: an overview, 10-s strips with most non-normal beats, a legend
    naming each class found, its meaning and its count."""
    kept = {}
    real_save = plot.save
    monkeypatch.setattr(plot, "save", lambda fig, path: kept.setdefault("fig", fig) and real_save(fig, path))
    png = tmp_path / "beats.png"
    assert predict_cli.main(["--model", "mitdb-beats", "--record", str(fixtures_dir / "mitdb" / "119"),
                             "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    fig = kept["fig"]
    overview, *strips = fig.axes
    assert len(strips) == plot.MAX_STRIPS and overview.get_xlim() == (0.0, out["duration_s"])
    counts = {k: v for k, v in out["label_counts"].items() if v}
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [f"{k} {tasks.label_meaning(tasks.MITDB_AAMI, k)} ({v})" for k, v in counts.items()]
    assert fig._suptitle.get_text() == f"119 lead MLII: {out['n_beats']} beats (" + \
        ", ".join(f"{k} {v}" for k, v in counts.items()) + ")"
    times = np.array([b["time_s"] for b in out["beats"]])
    labels = np.array([b["label"] for b in out["beats"]])
    for ax in strips:
        lo, hi = ax.get_xlim()
        assert hi - lo == plot.STRIP_S and ax.get_title(loc="left") == f"strip {strips.index(ax) + 1}: {lo:.0f}-{hi:.0f} s"
        inside = (times >= lo) & (times < hi)
        assert [t.get_text() for t in ax.texts] == list(labels[inside])   # each beat's class over its R-peak
    # the strips are those with most V beats (119: bigeminy), so each shows at least one
    assert all("V" in [t.get_text() for t in ax.texts] for ax in strips)

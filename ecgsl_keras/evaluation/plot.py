"""Pictures of records, explanations, evaluations and training runs (matplotlib, Agg backend).

    python -m ecgsl_keras.plot history RUN_DIR [--out FILE.png]

Every figure has a fixed size in pixels (``FIGSIZE`` inches x ``DPI``; no tight bounding box), so a
picture's size does not depend on its content. Functions here draw; they compute nothing that the
rest of the package does not already compute (``metrics``, ``inference``, ``explain`` do that).

* ``record_figure``: one lead with its beats (window of each beat, R-peak), each beat's attention
  weight as a bar above it, and optionally a saliency as a coloured band behind the trace
  (``explain``; ``predict --plot``).
* ``evaluation_plots``: confusion matrix, one-vs-rest ROC per class, reliability diagram
  (``evaluate --plots DIR``).
* ``history_figure``: the curves of a run's ``history.csv`` (``plot history``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ecgsl_keras.errors import ConfigError
from ecgsl_keras.fileio import atomic_path

log = logging.getLogger("ecgsl_keras.evaluation.plot")

DPI = 100
RECORD_FIGSIZE = (14.0, 5.0)      # 1400 x 500 px
SQUARE_FIGSIZE = (6.0, 5.0)       # 600 x 500 px: confusion matrix, ROC, reliability diagram
HISTORY_FIGSIZE = (12.0, 4.0)     # 1200 x 400 px
RELIABILITY_BINS = 10
SALIENCY_PERCENTILE = 99.0   # the saliency band's colour scale saturates at this percentile of |saliency|


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save(fig, path) -> str:
    """Write ``fig`` as PNG at ``DPI`` (fixed pixel size, atomically: ``fileio.atomic_path``) and close it;
    returns the path. ``WriteError`` naming the file when it cannot be written."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")
    finally:
        _pyplot().close(fig)
    return str(path)


# --- a record ------------------------------------------------------------------------------------

def record_figure(signal, fs, *, rpeaks_s=None, beat_windows_s=None, attention=None, saliency=None,
                  title: str = "", signal_label: str = "ECG (mV)", saliency_label: str = "|saliency|"):
    """A figure of one lead: ``signal`` (1-D) at ``fs`` Hz; ``rpeaks_s`` (n,) R-peak times;
    ``beat_windows_s`` (n, 2) start and end of each beat's window (dotted lines; overlapping windows
    alternate shading); ``attention`` (n,) one bar per beat above the trace (none: no bar panel);
    ``saliency`` (len(signal),) drawn as a coloured band behind the trace (absolute value, scaled
    to its ``SALIENCY_PERCENTILE``th percentile so that one spike does not wash out the rest)."""
    plt = _pyplot()
    signal = np.asarray(signal, np.float64).reshape(-1)
    t = np.arange(signal.size) / float(fs)
    with_bars = attention is not None
    fig = plt.figure(figsize=RECORD_FIGSIZE, dpi=DPI)
    grid = fig.add_gridspec(2 if with_bars else 1, 2, height_ratios=[1, 3] if with_bars else [1],
                            width_ratios=[60, 1], hspace=0.08, wspace=0.02,
                            left=0.05, right=0.95, top=0.9, bottom=0.11)
    ax = fig.add_subplot(grid[-1, 0])
    lo, hi = float(np.min(signal)), float(np.max(signal))
    pad = 0.05 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    if saliency is not None:
        s = np.abs(np.asarray(saliency, np.float64).reshape(-1))
        if s.size != signal.size:
            raise ValueError(f"saliency has {s.size} values for {signal.size} signal samples")
        top = float(np.percentile(s, SALIENCY_PERCENTILE)) or float(s.max()) or 1.0
        image = ax.imshow(np.minimum(s / top, 1.0)[None, :], aspect="auto", cmap="Reds", vmin=0.0, vmax=1.0, alpha=0.75,
                          extent=(0.0, signal.size / float(fs), lo, hi), origin="lower", interpolation="nearest")
        bar = fig.colorbar(image, cax=fig.add_subplot(grid[-1, 1]))
        bar.set_label(f"{saliency_label} / {SALIENCY_PERCENTILE:g}th pct.", fontsize=8)
    if beat_windows_s is not None:
        windows = np.asarray(beat_windows_s, np.float64).reshape(-1, 2)
        for i, (start, stop) in enumerate(windows):
            ax.axvspan(start, stop, color="tab:blue" if i % 2 else "tab:green", alpha=0.06, lw=0)
            ax.axvline(start, color="0.5", lw=0.5, ls=":")
    ax.plot(t, signal, color="black", lw=0.7)
    if rpeaks_s is not None:
        rpeaks_s = np.asarray(rpeaks_s, np.float64)
        index = np.clip(np.rint(rpeaks_s * fs).astype(int), 0, max(signal.size - 1, 0))
        ax.plot(rpeaks_s, signal[index], "v", color="tab:blue", ms=4, label="R-peak")
    ax.set_xlim(0.0, signal.size / float(fs))
    ax.set_ylim(lo, hi)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(signal_label)
    if with_bars:
        top_ax = fig.add_subplot(grid[0, 0], sharex=ax)
        attention = np.asarray(attention, np.float64).reshape(-1)
        if rpeaks_s is None or len(rpeaks_s) != attention.size:
            raise ValueError("attention bars need one R-peak time per beat")
        width = 0.6 * float(np.median(np.diff(rpeaks_s))) if attention.size > 1 else 0.5
        top_ax.bar(rpeaks_s, attention, width=width, color="tab:purple")
        top_ax.axhline(1.0 / attention.size, color="0.4", lw=0.8, ls="--", label="uniform 1/n")
        top_ax.set_ylabel("attention")
        top_ax.legend(loc="upper right", fontsize=7)
        top_ax.tick_params(labelbottom=False)
        top_ax.set_title(title, fontsize=10)
    else:
        ax.set_title(title, fontsize=10)
    return fig


# --- evaluation ----------------------------------------------------------------------------------

def _one_hot(targets, n_classes):
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return targets.astype(np.int64)
    return np.eye(n_classes, dtype=np.int64)[targets.astype(np.int64)]


def evaluation_plots(task, targets, probabilities, out_dir, prefix: str = "") -> dict:
    """Confusion matrix, per-class ROC and reliability diagram of aggregated predictions
    (``evaluate.aggregate``: class indices, multi-hot or 0/1 targets) as PNGs in ``out_dir``.
    Returns ``{"confusion_matrix": path, "roc": path, "reliability": path}``."""
    from sklearn.metrics import confusion_matrix, multilabel_confusion_matrix, roc_curve, auc
    from sklearn.calibration import calibration_curve

    from ecgsl_keras import tasks as tasks_lib

    plt = _pyplot()
    out_dir = Path(out_dir)
    names = list(task.label_names)
    probs = np.asarray(probabilities, np.float64)
    targets = np.asarray(targets)
    if task.kind == tasks_lib.BINARY:
        probs = probs.reshape(-1)
        probs = np.stack([1.0 - probs, probs], axis=1)
        targets = targets.reshape(-1).astype(np.int64)
        names = names if len(names) == 2 else ["negative", "positive"]
    multilabel = task.kind == tasks_lib.MULTILABEL
    n_classes = probs.shape[1]
    y = _one_hot(targets, n_classes)
    paths = {}

    # confusion matrix: rows true, columns predicted (multi-label: one 2 x 2 block per class, as counts)
    fig, ax = plt.subplots(figsize=SQUARE_FIGSIZE, dpi=DPI)
    if multilabel:
        thresholds = 0.5
        blocks = multilabel_confusion_matrix(y, (probs >= thresholds).astype(int))
        matrix = np.array([[b[1, 1], b[1, 0]] for b in blocks])   # per class: TP, FN
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks([0, 1], ["detected", "missed"])
        ax.set_yticks(range(n_classes), names)
        ax.set_title("positives per class (threshold 0.5)")
    else:
        matrix = confusion_matrix(targets.reshape(-1), probs.argmax(axis=1), labels=list(range(n_classes)))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(n_classes), names)
        ax.set_yticks(range(n_classes), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title("confusion matrix")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(int(value)), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black", fontsize=9)
    fig.subplots_adjust(left=0.15, right=0.95, bottom=0.12, top=0.9)
    paths["confusion_matrix"] = save(fig, out_dir / f"{prefix}confusion_matrix.png")

    # ROC one-vs-rest per class
    fig, ax = plt.subplots(figsize=SQUARE_FIGSIZE, dpi=DPI)
    for c in range(n_classes):
        if y[:, c].min() == y[:, c].max():
            continue   # a class absent (or alone) in these records has no ROC curve
        fpr, tpr, _ = roc_curve(y[:, c], probs[:, c])
        ax.plot(fpr, tpr, lw=1.2, label=f"{names[c]} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, one class vs the rest")
    ax.legend(loc="lower right", fontsize=8)
    fig.subplots_adjust(left=0.12, right=0.95, bottom=0.12, top=0.9)
    paths["roc"] = save(fig, out_dir / f"{prefix}roc.png")

    # reliability: multiclass / binary on the top label's confidence; multi-label on every class probability
    if multilabel:
        confidence, correct = probs.reshape(-1), y.reshape(-1)
        what = "every class probability"
    else:
        confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == targets.reshape(-1)).astype(int)
        what = "top-label confidence"
    fig, ax = plt.subplots(figsize=SQUARE_FIGSIZE, dpi=DPI)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8, label="perfect calibration")
    if np.unique(correct).size > 1:
        observed, predicted = calibration_curve(correct, confidence, n_bins=RELIABILITY_BINS, strategy="uniform")
        ax.plot(predicted, observed, "o-", color="tab:red", label="model")
    counts, edges = np.histogram(confidence, bins=RELIABILITY_BINS, range=(0.0, 1.0))
    ax.bar(edges[:-1], counts / max(counts.sum(), 1), width=np.diff(edges), align="edge", color="tab:gray",
           alpha=0.3, label="share of predictions")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"predicted probability ({what})")
    ax.set_ylabel("observed frequency")
    ax.set_title("reliability diagram")
    ax.legend(loc="upper left", fontsize=8)
    fig.subplots_adjust(left=0.12, right=0.95, bottom=0.12, top=0.9)
    paths["reliability"] = save(fig, out_dir / f"{prefix}reliability.png")
    return paths


# --- training curves -----------------------------------------------------------------------------

def read_history(run_dir):
    """``history.csv`` of a run folder as ``{column: float array}`` (needs an ``epoch`` column)."""
    import pandas as pd

    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        raise ConfigError(path, "missing_file", "run folder has no history.csv (has it trained an epoch?)")
    try:
        frame = pd.read_csv(path)
    except Exception as exc:   # pandas raises its own parser errors
        raise ConfigError(path, "bad_history", f"cannot read the CSV ({type(exc).__name__}: {exc})") from None
    if "epoch" not in frame.columns or frame.empty:
        raise ConfigError(path, "bad_history", f"expected an 'epoch' column and at least one row "
                                               f"(columns: {list(frame.columns)}, rows: {len(frame)})")
    return {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64) for c in frame.columns}


def history_figure(history: dict, title: str = ""):
    """One panel per metric: training and ``val_`` curves against the epoch (validation-only metrics
    such as ``val_macro_f1`` get their own panel); the learning rate (if logged) on a log scale."""
    plt = _pyplot()
    epochs = history["epoch"] + 1
    names = []
    for column in history:
        name = column[4:] if column.startswith("val_") else column
        if column != "epoch" and name not in names and np.isfinite(history[column]).any():
            names.append(name)
    names = names or ["loss"]
    fig, axes = plt.subplots(1, len(names), figsize=HISTORY_FIGSIZE, dpi=DPI, squeeze=False)
    for ax, name in zip(axes[0], names):
        if name in history:
            ax.plot(epochs, history[name], "o-", ms=3, label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], "s-", ms=3, label="validation")
        if name in ("lr", "learning_rate"):
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.85, wspace=0.35)
    return fig


def plot_prediction(path, signal, fs, result: dict, signal_config, title: str = "") -> str:
    """PNG of the record (mV), each beat's window and R-peak, and its attention weight as a bar."""
    rpeaks_s = np.asarray(result["beat_times_s"], np.float64)
    start = rpeaks_s - signal_config.r_offset / signal_config.target_fs
    windows = np.stack([start, start + signal_config.beat_len / signal_config.target_fs], axis=1)
    fig = record_figure(signal, fs, rpeaks_s=rpeaks_s, beat_windows_s=windows,
                             attention=result.get("attention_weights"), title=title)
    return save(fig, path)

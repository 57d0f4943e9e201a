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
ZOOMED_RECORD_FIGSIZE = (14.0, 8.0)   # 1400 x 800 px: the record and a zoomed strip under it (saliency)
SQUARE_FIGSIZE = (6.0, 5.0)       # 600 x 500 px: confusion matrix, ROC, reliability diagram
HISTORY_FIGSIZE = (12.0, 4.0)     # 1200 x 400 px
RELIABILITY_BINS = 10
STRIP_S = 10.0               # per-beat plots: strips of 10 s, as a rhythm strip is read
MAX_STRIPS = 6               # at most this many strips (the ones with most non-normal beats first)
STRIP_HEIGHT = 1.6           # inches per strip (the overview is as high)
ZOOM_S = 5.0                 # saliency: a zoomed strip of 5 s under the whole record
# One colour per class index (per-beat plots): the first class (normal) stays grey.
CLASS_COLOURS = ("0.55", "tab:blue", "tab:red", "tab:orange", "tab:purple", "tab:green", "tab:brown", "tab:pink")
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
                  title: str = "", signal_label: str = "ECG (mV)", saliency_label: str = "|saliency|",
                  zoom_s: float | None = None):
    """A figure of one lead: ``signal`` (1-D) at ``fs`` Hz; ``rpeaks_s`` (n,) R-peak times;
    ``beat_windows_s`` (n, 2) start and end of each beat's window (dotted lines; overlapping windows
    alternate shading); ``attention`` (n,) one bar per beat above the trace (none: no bar panel);
    ``saliency`` (len(signal),) drawn as a coloured band behind the trace (absolute value, scaled
    to its ``SALIENCY_PERCENTILE``th percentile so that one spike does not wash out the rest).
    ``zoom_s``: also a strip of that many seconds under the record, around the strongest saliency
    (P, QRS and T told apart), marked on the whole record."""
    plt = _pyplot()
    signal = np.asarray(signal, np.float64).reshape(-1)
    t = np.arange(signal.size) / float(fs)
    with_bars = attention is not None
    zoom = zoom_s is not None and signal.size / float(fs) > zoom_s
    rows = [1, 3] if with_bars else [3]
    if zoom:
        rows = rows + [3]
    figsize = ZOOMED_RECORD_FIGSIZE if zoom else RECORD_FIGSIZE
    fig = plt.figure(figsize=figsize, dpi=DPI)
    grid = fig.add_gridspec(len(rows), 2, height_ratios=rows, width_ratios=[60, 1],
                            hspace=0.35 if zoom else 0.08, wspace=0.02,
                            left=0.06, right=0.95, top=0.9 if not zoom else 0.93,
                            bottom=0.11 * RECORD_FIGSIZE[1] / figsize[1])
    main_row = 1 if with_bars else 0
    ax = fig.add_subplot(grid[main_row, 0])
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
        bar = fig.colorbar(image, cax=fig.add_subplot(grid[main_row, 1]))
        bar.set_label(f"{saliency_label} / {SALIENCY_PERCENTILE:g}th pct.", fontsize=8)
    if beat_windows_s is not None:
        windows = np.asarray(beat_windows_s, np.float64).reshape(-1, 2)
        for i, (start, stop) in enumerate(windows):
            ax.axvspan(start, stop, color="tab:blue" if i % 2 else "tab:green", alpha=0.06, lw=0,
                       label="beat window (model input)" if i == 0 else None)
            ax.axvline(start, color="0.5", lw=0.5, ls=":")
    ax.plot(t, signal, color="black", lw=0.7, label="ECG")
    if rpeaks_s is not None:
        rpeaks_s = np.asarray(rpeaks_s, np.float64)
        index = np.clip(np.rint(rpeaks_s * fs).astype(int), 0, max(signal.size - 1, 0))
        ax.plot(rpeaks_s, signal[index], "v", color="tab:blue", ms=4, label="R-peak")
    ax.set_xlim(0.0, signal.size / float(fs))
    ax.set_ylim(lo, hi)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(signal_label)
    if zoom:
        _zoom_strip(fig.add_subplot(grid[main_row + 1, 0]), ax, signal, fs, saliency, rpeaks_s, zoom_s, lo, hi,
                    signal_label)
    ax.legend(loc="upper right", fontsize=7, ncol=4, framealpha=0.8)
    if with_bars:
        top_ax = fig.add_subplot(grid[0, 0], sharex=ax)
        attention = np.asarray(attention, np.float64).reshape(-1)
        if rpeaks_s is None or len(rpeaks_s) != attention.size:
            raise ValueError("attention bars need one R-peak time per beat")
        width = 0.6 * float(np.median(np.diff(rpeaks_s))) if attention.size > 1 else 0.5
        top_ax.bar(rpeaks_s, attention, width=width, color="tab:purple", label="attention weight per beat")
        top_ax.axhline(1.0 / attention.size, color="0.4", lw=0.8, ls="--", label="uniform 1/n")
        top_ax.set_ylabel("attention")
        top_ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=7, frameon=False)
        top_ax.tick_params(labelbottom=False)
        top_ax.set_title(title, fontsize=10)
    else:
        ax.set_title(title, fontsize=10)
    return fig


def _zoom_strip(zax, ax, signal, fs, saliency, rpeaks_s, zoom_s, lo, hi, signal_label):
    """``zoom_s`` seconds around the strongest saliency (else the record's start) on ``zax``, marked on ``ax``."""
    n = int(round(zoom_s * fs))
    if saliency is not None:
        s = np.abs(np.asarray(saliency, np.float64).reshape(-1))
        centre = int(np.argmax(np.convolve(s, np.ones(max(int(fs), 1)), mode="same")))   # strongest second
        first = int(np.clip(centre - n // 2, 0, signal.size - n))
    else:
        first = 0
    t0, t1 = first / float(fs), (first + n) / float(fs)
    t = np.arange(first, first + n) / float(fs)
    if saliency is not None:
        part = s[first:first + n]
        top = float(np.percentile(s, SALIENCY_PERCENTILE)) or float(s.max()) or 1.0
        zax.imshow(np.minimum(part / top, 1.0)[None, :], aspect="auto", cmap="Reds", vmin=0.0, vmax=1.0, alpha=0.75,
                   extent=(t0, t1, lo, hi), origin="lower", interpolation="nearest")
    zax.plot(t, signal[first:first + n], color="black", lw=1.0)
    if rpeaks_s is not None:
        inside = (rpeaks_s >= t0) & (rpeaks_s < t1)
        index = np.clip(np.rint(rpeaks_s[inside] * fs).astype(int), 0, signal.size - 1)
        zax.plot(rpeaks_s[inside], signal[index], "v", color="tab:blue", ms=5)
    zax.set_xlim(t0, t1)
    zax.set_ylim(lo, hi)
    zax.grid(True, which="major", color="0.85", lw=0.5)
    zax.set_xlabel("time (s)")
    zax.set_ylabel(signal_label)
    zax.set_title(f"zoom: {t0:.1f}-{t1:.1f} s (strongest saliency)" if saliency is not None
                  else f"zoom: {t0:.1f}-{t1:.1f} s", fontsize=9)
    ax.axvspan(t0, t1, facecolor="none", edgecolor="tab:red", lw=1.2, label=f"zoomed {zoom_s:g} s")


# --- beats labelled by class ----------------------------------------------------------------------

def choose_strips(beat_times_s, beat_labels, normal, duration_s, strip_s: float = STRIP_S,
                  max_strips: int = MAX_STRIPS) -> list[float]:
    """Start times of the strips to draw: those with most beats not of class ``normal`` first, then the
    earliest; at most ``max_strips``, in time order."""
    n = max(int(np.ceil(duration_s / strip_s)), 1)
    times = np.asarray(beat_times_s, np.float64)
    other = np.asarray([label != normal for label in beat_labels], bool)
    counts = np.bincount(np.clip((times[other] // strip_s).astype(int), 0, n - 1), minlength=n) if other.any() \
        else np.zeros(n, int)
    order = sorted(range(n), key=lambda i: (-counts[i], i))
    return sorted(i * strip_s for i in order[:max_strips])


def beats_figure(signal, fs, beat_times_s, beat_labels, label_names, *, meanings=None, title: str = "",
                 strip_s: float = STRIP_S, max_strips: int = MAX_STRIPS, signal_label: str = "mV"):
    """A per-beat prediction: an overview of the whole record with every beat as a tick coloured by
    its class, then strips of ``strip_s`` seconds (the ones with most non-normal beats,
    ``choose_strips``) with each beat's class letter over its R-peak. The legend names each class,
    its meaning and its count."""
    plt = _pyplot()
    signal = np.asarray(signal, np.float64).reshape(-1)
    fs = float(fs)
    duration = signal.size / fs
    names = list(label_names)
    meanings = list(meanings) if meanings else [""] * len(names)
    times = np.asarray(beat_times_s, np.float64)
    labels = np.asarray(list(beat_labels), dtype=object)
    colours = {name: CLASS_COLOURS[i % len(CLASS_COLOURS)] for i, name in enumerate(names)}
    starts = choose_strips(times, labels, names[0] if names else None, duration, strip_s, max_strips)
    height = STRIP_HEIGHT * (len(starts) + 1) + 1.0
    fig = plt.figure(figsize=(RECORD_FIGSIZE[0], height), dpi=DPI)
    grid = fig.add_gridspec(len(starts) + 1, 1, hspace=0.55, left=0.05, right=0.98,
                            top=1.0 - 0.75 / height, bottom=0.45 / height)
    lo, hi = np.percentile(signal, [0.1, 99.9]) if signal.size else (0.0, 1.0)
    pad = 0.15 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + 2 * pad

    over = fig.add_subplot(grid[0, 0])
    step = max(int(signal.size // 20000), 1)   # the overview needs no more points than pixels
    over.plot(np.arange(0, signal.size, step) / fs, signal[::step], color="black", lw=0.4)
    handles = []
    for name, meaning in zip(names, meanings):
        where = times[labels == name]
        if not where.size:
            continue
        handle = over.vlines(where, hi - pad, hi, color=colours[name], lw=1.0 if name != names[0] else 0.5,
                             label=f"{name} {meaning} ({where.size})".replace("  ", " "))
        handles.append(handle)
    for k, start in enumerate(starts):
        over.axvspan(start, min(start + strip_s, duration), color="tab:cyan", alpha=0.15, lw=0)
        over.text(start, lo, f" {k + 1}", fontsize=7, va="bottom", color="tab:cyan")
    over.set_xlim(0.0, duration)
    over.set_ylim(lo, hi)
    over.set_ylabel(signal_label)
    over.set_title(f"whole record, {duration:.0f} s ({times.size} beats); shaded: the strips below", fontsize=9)
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8, frameon=False,
               bbox_to_anchor=(0.98, 1.0 - 0.28 / height))
    fig.suptitle(title, x=0.05, ha="left", fontsize=11, y=1.0 - 0.12 / height)

    for k, start in enumerate(starts):
        ax = fig.add_subplot(grid[k + 1, 0])
        first, last = int(start * fs), min(int((start + strip_s) * fs), signal.size)
        t = np.arange(first, last) / fs
        ax.plot(t, signal[first:last], color="black", lw=0.7)
        inside = (times >= start) & (times < start + strip_s)
        for when, name in zip(times[inside], labels[inside]):
            y = signal[min(int(round(when * fs)), signal.size - 1)]
            ax.plot(when, y, "o", ms=4, color=colours.get(name, "k"))
            ax.text(when, hi - pad, name, ha="center", va="center", fontsize=8, color=colours.get(name, "k"),
                    fontweight="bold" if name != names[0] else "normal")
        ax.set_xlim(start, start + strip_s)
        ax.set_ylim(lo, hi)
        ax.grid(True, color="0.9", lw=0.5)
        ax.set_ylabel(signal_label)
        ax.set_title(f"strip {k + 1}: {start:.0f}-{start + strip_s:.0f} s", fontsize=8, loc="left", pad=2)
    fig.axes[-1].set_xlabel("time (s)")
    return fig


# --- evaluation ----------------------------------------------------------------------------------

def _one_hot(targets, n_classes):
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return targets.astype(np.int64)
    return np.eye(n_classes, dtype=np.int64)[targets.astype(np.int64)]


def evaluation_plots(task, targets, probabilities, out_dir, prefix: str = "", title: str = "") -> dict:
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
        ax.set_title("positives per class (threshold 0.5)" + (f"\n{title}" if title else ""), fontsize=9)
    else:
        matrix = confusion_matrix(targets.reshape(-1), probs.argmax(axis=1), labels=list(range(n_classes)))
        rows = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, rows, out=np.zeros(matrix.shape, np.float64), where=rows > 0)
        ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)   # colour: the share of the true class's records
        ax.set_xticks(range(n_classes), names)
        ax.set_yticks(range(n_classes), [f"{n}\n(n={int(r)})" for n, r in zip(names, rows[:, 0])])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"confusion matrix: counts and % of each true class\n{title}" if title else
                     "confusion matrix: counts and % of each true class", fontsize=9)
    for (i, j), value in np.ndenumerate(matrix):
        if multilabel:
            text, dark = str(int(value)), value > matrix.max() / 2
        else:
            text, dark = f"{int(value)}\n{100.0 * share[i, j]:.1f}%", share[i, j] > 0.5
        ax.text(j, i, text, ha="center", va="center", color="white" if dark else "black", fontsize=9)
    fig.subplots_adjust(left=0.15, right=0.95, bottom=0.12, top=0.88)
    paths["confusion_matrix"] = save(fig, out_dir / f"{prefix}confusion_matrix.png")

    # ROC one-vs-rest per class
    fig, ax = plt.subplots(figsize=SQUARE_FIGSIZE, dpi=DPI)
    for c in range(n_classes):
        if y[:, c].min() == y[:, c].max():
            continue   # a class absent (or alone) in these records has no ROC curve
        fpr, tpr, _ = roc_curve(y[:, c], probs[:, c])
        ax.plot(fpr, tpr, lw=1.2, label=f"{names[c]} (AUC {auc(fpr, tpr):.3f}, n={int(y[:, c].sum())})")
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC, one class vs the rest" + (f"\n{title}" if title else ""), fontsize=9)
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
    from ecgsl_keras.evaluation.metrics import expected_calibration_error

    calibration = expected_calibration_error(confidence, correct, RELIABILITY_BINS)
    fig, ax = plt.subplots(figsize=SQUARE_FIGSIZE, dpi=DPI)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8, label="perfect calibration")
    if np.unique(correct).size > 1:
        observed, predicted = calibration_curve(correct, confidence, n_bins=RELIABILITY_BINS, strategy="uniform")
        ax.plot(predicted, observed, "o-", color="tab:red", label=f"model (ECE {calibration['ece']:.3f})")
    counts, edges = np.histogram(confidence, bins=RELIABILITY_BINS, range=(0.0, 1.0))
    shares = counts / max(counts.sum(), 1)
    ax.bar(edges[:-1], shares, width=np.diff(edges), align="edge", color="tab:gray",
           alpha=0.3, label="share of predictions")
    for left, width, share_, count in zip(edges[:-1], np.diff(edges), shares, counts):
        if count:
            ax.text(left + width / 2, share_ + 0.01, str(int(count)), ha="center", va="bottom", fontsize=7,
                    color="0.3")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"predicted probability ({what})")
    ax.set_ylabel("observed frequency")
    ax.set_title(f"reliability diagram, ECE {calibration['ece']:.3f} (n={int(counts.sum())}; numbers: "
                 "predictions per bin)" + (f"\n{title}" if title else ""), fontsize=9)
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


def best_epoch(history: dict, best=None):
    """``(epoch (1-based), monitor, value)`` of the best epoch: the run's own ``best`` entry
    (``config.json``: ``{"monitor", "epoch", "value"}``) when given, else the best of ``val_macro_f1``
    (highest) or ``val_loss`` / ``loss`` (lowest) in ``history``; None when nothing was logged."""
    if isinstance(best, dict) and best.get("epoch"):
        return int(best["epoch"]), best.get("monitor") or "", best.get("value")
    for monitor, pick in (("val_macro_f1", np.nanargmax), ("val_macro_auroc", np.nanargmax),
                          ("val_loss", np.nanargmin), ("loss", np.nanargmin)):
        values = history.get(monitor)
        if values is not None and np.isfinite(values).any():
            i = int(pick(values))
            return int(history["epoch"][i]) + 1, monitor, float(values[i])
    return None


def history_figure(history: dict, title: str = "", best=None):
    """One panel per metric: training and ``val_`` curves against the epoch (validation-only metrics
    such as ``val_macro_f1`` get their own panel); the learning rate (if logged) on a log scale. The
    best epoch (``best_epoch``; ``best``: the run's ``config.json`` entry) is a dashed line in every
    panel, named in the title."""
    plt = _pyplot()
    epochs = history["epoch"] + 1
    marked = best_epoch(history, best)
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
        if marked is not None:
            ax.axvline(marked[0], color="tab:green", ls="--", lw=1.0, label=f"best epoch {marked[0]}")
            if marked[1] in (name, f"val_{name}") and marked[2] is not None:
                ax.plot([marked[0]], [marked[2]], "*", color="tab:green", ms=11)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    if marked is not None:
        value = f" = {marked[2]:.3f}" if marked[2] is not None else ""
        title = f"{title}: best epoch {marked[0]} of {len(epochs)} ({marked[1]}{value})" if title else \
            f"best epoch {marked[0]} of {len(epochs)} ({marked[1]}{value})"
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.85, wspace=0.35)
    return fig


def prediction_title(title: str, result: dict, task=None) -> str:
    """``title`` with the predicted label, what it means and its probability (a per-beat result: the
    beats per class)."""
    from ecgsl_keras import tasks as tasks_lib

    if "beat_labels" in result:
        counts = ", ".join(f"{n} {c}" for n, c in result["label_counts"].items() if c)
        return f"{title}: {result['n_beats']} beats ({counts})"
    label = result["label"]
    names = list(result.get("label_names") or (task.label_names if task else ()))
    p = np.asarray(result["probabilities"], np.float64).reshape(-1)
    keys = names if p.size == len(names) else names[-p.size:]
    probability = dict(zip(keys, p))
    meaning = tasks_lib.label_meaning(task, label) if task is not None else ""
    if isinstance(label, list):
        shown = ", ".join(f"{n} (p = {probability[n]:.3f})" for n in label) or "no class"
        return f"{title}: {shown}" + (f" = {meaning}" if meaning else "")
    if label not in probability:   # binary: the probability is the positive class's
        return f"{title}: {label}" + (f" = {meaning}" if meaning else "") + f" (p({keys[-1]}) = {p[-1]:.3f})"
    return f"{title}: {label}" + (f" = {meaning}" if meaning else "") + f" (p = {probability[label]:.3f})"


def plot_prediction(path, signal, fs, result: dict, signal_config, title: str = "", task=None) -> str:
    """PNG of a prediction. Record-level: the record (mV), each beat's window and R-peak, and its
    attention weight as a bar; the title says the label, its meaning and probability. Per-beat:
    ``beats_figure`` (overview and 10-s strips, beats coloured by class)."""
    from ecgsl_keras import tasks as tasks_lib

    if "beat_labels" in result:
        names = list(result["label_names"])
        meanings = [tasks_lib.label_meaning(task, n) for n in names] if task is not None else None
        fig = beats_figure(signal, fs, result["beat_times_s"], result["beat_labels"], names, meanings=meanings,
                           title=prediction_title(title, result, task))
        return save(fig, path)
    title = prediction_title(title, result, task)
    rpeaks_s = np.asarray(result["beat_times_s"], np.float64)
    start = rpeaks_s - signal_config.r_offset / signal_config.target_fs
    windows = np.stack([start, start + signal_config.beat_len / signal_config.target_fs], axis=1)
    fig = record_figure(signal, fs, rpeaks_s=rpeaks_s, beat_windows_s=windows,
                             attention=result.get("attention_weights"), title=title)
    return save(fig, path)

"""Short tables for people, printed on stderr by ``ecgsl predict`` and ``ecgsl evaluate`` (the JSON
last line of stdout is for programs), and the rounding of the floats in that JSON."""
from __future__ import annotations

import sys

import numpy as np

from ecgsl_keras import tasks as tasks_lib

DIGITS = 3          # probabilities and times for people (and predict's JSON)
METRIC_DIGITS = 6   # evaluate's JSON metrics: no float artefacts, precise enough to recompute from


# Values too small for 3 places: attention weights (1/n over up to hundreds of beats).
FINER = {"attention_weights": 5}


def rounded(value, digits: int = DIGITS):
    """``value`` with every float (numpy ones included) rounded to ``digits`` places, recursively
    (the keys of ``FINER`` to their own number of places)."""
    if isinstance(value, dict):
        return {key: rounded(v, FINER.get(key, digits)) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, np.ndarray):
        return rounded(value.tolist(), digits)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return round(value, digits) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def show(lines) -> None:
    """Print ``lines`` on stderr (the table for people)."""
    print("\n".join(lines), file=sys.stderr, flush=True)


def _table(header, rows) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip()] + [fmt.format(*(str(c) for c in row)).rstrip() for row in rows]


def record_lines(task, out: dict) -> list[str]:
    """A record-level prediction: the label with its meaning, then each class's probability."""
    label = out["label"]
    shown = ", ".join(label) if isinstance(label, list) else label
    lines = [f"{out['record']}  lead {out.get('lead') or '(unnamed)'}, {out['fs']:g} Hz, {out['duration_s']:.1f} s, "
             f"{out.get('n_beats', '?')} beats",
             f"prediction: {shown or '(none)'}  {tasks_lib.label_meaning(task, label)}"]
    probabilities = out.get("probabilities") or {}
    rows = [(name, tasks_lib.label_meaning(task, name), f"{float(p):.3f}") for name, p in probabilities.items()]
    return lines + ["  " + line for line in _table(("class", "meaning", "probability"), rows)]


def beats_lines(task, out: dict) -> list[str]:
    """A per-beat prediction: beats per class with meanings and shares."""
    counts = out.get("label_counts") or {}
    total = sum(counts.values()) or 1
    rows = [(name, tasks_lib.label_meaning(task, name), n, f"{100.0 * n / total:.1f}%") for name, n in counts.items()]
    return ([f"{out['record']}  lead {out.get('lead') or '(unnamed)'}, {out['fs']:g} Hz, {out['duration_s']:.1f} s, "
             f"{out.get('n_beats', 0)} beats"]
            + ["  " + line for line in _table(("class", "meaning", "beats", "share"), rows)])


def folder_lines(rows, out_csv) -> list[str]:
    """A folder's summary: predictions per label, then the refused records and why."""
    ok = [r for r in rows if r.get("status") == "ok"]
    refused = [r for r in rows if r.get("status") != "ok"]
    counts = {}
    for row in ok:
        label = row.get("prediction") or "(none)"   # a multi-label record with no class
        counts[label] = counts.get(label, 0) + 1
    lines = [f"{len(rows)} records: {len(ok)} classified, {len(refused)} refused; table in {out_csv}"]
    if counts:
        lines.append("  " + ", ".join(f"{label}: {n}" for label, n in sorted(counts.items())))
    for row in refused:
        lines.append(f"  refused {row['record']}: {row.get('reason', '')}")
    return lines


def evaluation_lines(task, result: dict) -> list[str]:
    """An evaluation of a record-level model: the headline metrics, then per-class F1 and the confusion matrix."""
    names = list(result.get("label_names") or (task.label_names if task else ()))
    lines = [f"evaluated {result.get('records', result.get('n', '?'))} records"]
    for key in ("accuracy", "macro_f1", "challenge_f1", "auroc", "macro_auroc", "sensitivity", "specificity", "ece"):
        value = result.get(key)
        if isinstance(value, (int, float)):
            lines.append(f"  {key:<14} {value:.3f}")
    per_class = result.get("per_class_f1")
    matrix = result.get("confusion_matrix")
    if isinstance(per_class, dict) and names:
        rows = []
        for i, name in enumerate(names):
            f1 = per_class.get(name)   # None: the class is in neither truth nor prediction (left out of macro F1)
            row = [name, tasks_lib.label_meaning(task, name) if task else "", "-" if f1 is None else f"{float(f1):.3f}"]
            if isinstance(matrix, list) and i < len(matrix):
                row.append(int(sum(matrix[i])))
            rows.append(row)
        header = ("class", "meaning", "F1") + (("records",) if isinstance(matrix, list) else ())
        lines += ["  " + line for line in _table(header, rows)]
    if isinstance(matrix, list) and names and len(matrix) == len(names):
        lines.append("  confusion matrix (rows true, columns predicted):")
        lines += ["    " + line for line in _table(["true\\pred"] + names,
                                                    [[name] + [int(v) for v in matrix[i]] for i, name in
                                                     enumerate(names)])]
    return lines

"""Benchmarks: ``python -m ecgsl_keras.bench {rpeaks,segment,pipeline,inference} ...``.

Each subcommand lives in its own module ``ecgsl_keras.bench.<name>`` exposing
``add_arguments(parser)`` and ``run(args) -> dict``. The dispatcher (``__main__``) imports only the
module asked for, prints a readable table on stderr and the result as one JSON line, last on
stdout.

- ``rpeaks``: R-peak detection against the MIT-BIH reference beat annotations (sensitivity,
  positive predictivity, per record, records/s).
- ``segment``: read + clean + detect + segment speed (records/s, beats/s) over a data set.
- ``pipeline``, ``inference``: written elsewhere; absent modules are reported as such.
- ``masked``: the stage-2 diagnostic (model vs zeros, previous beat, neighbours, record mean/median).
- ``train``: training examples/s per stage, batches padded to ``max_beats`` against batches padded to
  their longest sequence (issue 22), with the spread over repeats and FLOPs per example.
"""
from __future__ import annotations

import json
import math

import numpy as np

from ecgsl_keras.config import ExperimentConfig, SignalConfig
from ecgsl_keras.errors import ConfigError

SUBCOMMANDS = {
    "rpeaks": "R-peak detection vs MIT-BIH reference beats: Se, +P, records/s",
    "segment": "read + clean + detect + segment speed over a data set: records/s, beats/s",
    "pipeline": "end-to-end preparation / training pipeline throughput",
    "inference": "exported model inference latency and throughput",
    "masked": "stage-2 masked-beat error of a masked model against trivial predictors on the same masks",
    "train": "training examples/s per stage, fixed-shape vs length-aware batches, and FLOPs per example",
}


def to_jsonable(value):
    """numpy scalars/arrays and tuples -> plain JSON types (NaN/inf -> None)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json_line(result: dict) -> str:
    return json.dumps(to_jsonable(result), sort_keys=False, separators=(",", ":"))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[{len(value)} items]"
    return str(value)


def format_table(result: dict) -> str:
    """A readable view of a result: scalars as ``key: value``; a dict of dicts as a table."""
    lines, tables = [], []
    width = max((len(str(k)) for k in result), default=0)
    for key, value in result.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            tables.append((key, value))
        elif isinstance(value, dict):
            lines.append(f"{key:<{width}}  " + ", ".join(f"{k}={_cell(v)}" for k, v in value.items()))
        else:
            lines.append(f"{key:<{width}}  {_cell(value)}")
    for key, rows in tables:
        columns = []
        for row in rows.values():
            columns.extend(c for c in row if c not in columns)
        header = [key] + columns
        body = [[str(name)] + [_cell(row.get(c, "")) for c in columns] for name, row in rows.items()]
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        lines.append("")
        lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
        lines.extend("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in body)
    return "\n".join(lines)


# Every timed figure: at least MIN_SECONDS of work per repeat, REPEATS repeats, median and spread reported.
DEFAULT_REPEATS = 5
DEFAULT_MIN_SECONDS = 3.0


def add_repeat_arguments(parser, repeats: int = DEFAULT_REPEATS, min_seconds: float = DEFAULT_MIN_SECONDS) -> None:
    parser.add_argument("--repeats", type=int, default=repeats, help=f"timed repeats (default {repeats}); "
                                                                     "the median and the spread are reported")
    parser.add_argument("--min-seconds", type=float, default=min_seconds,
                        help=f"each repeat works at least this long (default {min_seconds:g} s)")


def spread(values) -> dict:
    """Median, min, max, interquartile range and (max - min) / median of a list of rates."""
    values = np.asarray([float(v) for v in values], np.float64)
    median = float(np.median(values))
    q1, q3 = np.percentile(values, [25, 75])
    return {"median": median, "min": float(values.min()), "max": float(values.max()), "iqr": float(q3 - q1),
            "spread_percent": float(100.0 * (values.max() - values.min()) / median) if median else None,
            "repeats": int(values.size), "values": [round(float(v), 4) for v in values]}


def repeat_rates(step, *, repeats: int = DEFAULT_REPEATS, min_seconds: float = DEFAULT_MIN_SECONDS,
                 min_steps: int = 1) -> dict:
    """Time ``step()`` (one unit of work returning ``{counter: amount}``, e.g. examples and beats of a
    batch) in ``repeats`` repeats of at least ``min_seconds`` and ``min_steps`` calls each; returns
    ``{counter + "_per_second": spread(...), "seconds_per_repeat": [...], "steps_per_repeat": [...]}``."""
    import time

    if repeats < 1 or min_seconds < 0:

        raise ConfigError("<args>", "bad_config", f"--repeats must be >= 1 and --min-seconds >= 0, "
                                                  f"got {repeats} and {min_seconds}")
    rates, seconds, steps = {}, [], []
    for _ in range(repeats):
        totals, n = {}, 0
        start = time.perf_counter()
        while True:
            for key, amount in step().items():
                totals[key] = totals.get(key, 0) + amount
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds and n >= min_steps:
                break
        for key, amount in totals.items():
            rates.setdefault(key, []).append(amount / elapsed)
        seconds.append(round(elapsed, 3))
        steps.append(n)
    out = {f"{key}_per_second": spread(values) for key, values in rates.items()}
    out.update({"seconds_per_repeat": seconds, "steps_per_repeat": steps})
    return out


def load_signal_config(path):
    """A ``SignalConfig`` from a JSON file holding either a SignalConfig or an ExperimentConfig."""

    if path is None:
        return SignalConfig()
    with open(path, encoding="utf-8") as fh:
        try:
            values = json.load(fh)
        except json.JSONDecodeError:
            values = None
    if isinstance(values, dict) and "signal" in values:
        return ExperimentConfig.load(path).signal
    return SignalConfig.load(path)

"""``ecgsl plot`` (and ``python -m ecgsl_keras.plot``): the command line of ``ecgsl_keras.evaluation.plot``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgsl_keras.cli import runner
from ecgsl_keras.evaluation.plot import history_figure, read_history, save  # matplotlib is imported lazily


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("plot", "Training curves of a run folder (its history.csv) as a PNG (matplotlib).")
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser("history", help="training curves of a run folder's history.csv")
    h.add_argument("run_dir", help="run folder (with history.csv)")
    h.add_argument("--out", help="PNG path (default RUN_DIR/history.png)")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv, models=False)


def _run(args, parser) -> int:
    history = read_history(args.run_dir)
    out = Path(args.out) if args.out else Path(args.run_dir) / "history.png"
    info = _run_info(args.run_dir)
    kind = ", ".join(str(v) for v in (info.get("stage"), (info.get("task") or {}).get("name")) if v)
    title = Path(args.run_dir).resolve().name + (f" ({kind})" if kind else "")
    path = save(history_figure(history, title=title, best=info.get("best")), out)
    metrics = [c for c in history if c != "epoch"]
    runner.print_result({"plot": path, "epochs": int(len(history["epoch"])), "columns": metrics})
    return 0


def _run_info(run_dir) -> dict:
    """The run's ``config.json`` (stage, task, best epoch), or {} when it has none or it is unreadable."""
    import json

    try:
        values = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) and isinstance(values.get("task", {}) or {}, dict) else {}


if __name__ == "__main__":
    sys.exit(main())

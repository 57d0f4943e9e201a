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
    path = save(history_figure(history, title=str(args.run_dir)), out)
    metrics = [c for c in history if c != "epoch"]
    runner.print_result({"plot": path, "epochs": int(len(history["epoch"])), "columns": metrics})
    return 0


if __name__ == "__main__":
    sys.exit(main())

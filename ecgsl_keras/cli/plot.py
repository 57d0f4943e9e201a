"""``ecgsl plot`` (and ``python -m ecgsl_keras.plot``): the command line of ``ecgsl_keras.evaluation.plot``."""
from __future__ import annotations


import argparse
import json
import logging
import sys
from pathlib import Path


from ecgsl_keras.errors import ECGSLError

from ecgsl_keras.evaluation.plot import history_figure, read_history, save


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ecgsl_keras.plot", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser("history", help="training curves of a run folder's history.csv")
    h.add_argument("run_dir", help="run folder (with history.csv)")
    h.add_argument("--out", help="PNG path (default RUN_DIR/history.png)")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        history = read_history(args.run_dir)
        out = Path(args.out) if args.out else Path(args.run_dir) / "history.png"
        path = save(history_figure(history, title=str(args.run_dir)), out)
    except ECGSLError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metrics = [c for c in history if c != "epoch"]
    print(json.dumps({"plot": path, "epochs": int(len(history["epoch"])), "columns": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Are the quickstart's figures reproducible? For docs/quickstart.md.

    python benchmarks/quickstart_repeat.py --work /tmp/qs_repeat     # writes benchmarks/results/quickstart_repeat.json
    python benchmarks/quickstart_repeat.py --work /tmp/qs_repeat --old-tree /tmp/old --old-rev 4776e82

Runs ``python -m ecgsl_keras.quickstart --run-dir RUN --overwrite --verbose 0`` (the defaults of ``QuickstartConfig``,
seed 42) several times, one after the other, in child processes: twice as it is (TensorFlow's default thread pools:
one thread per core), then with one TensorFlow thread (``TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1``), then
both ways with ``tf.config.experimental.enable_op_determinism()`` called first, and, with ``--old-tree``, once from
another checkout of the repository (``git archive REV | tar -x -C DIR``) with the default threads. For each run: the validation figures of the best and the last epoch, the fine-tune's best epoch, and a
SHA-256 of each stage's ``history.csv`` (every epoch's losses and metrics to the last digit: two runs whose histories
hash alike trained alike). A few CPU minutes a run. The last line of stdout is the JSON object.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "quickstart_repeat.json"
STAGES = ("autoencoder", "masked", "finetune")
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


# the quickstart's command line with TensorFlow's op determinism on (python -c: the CLI has no switch for it)
DETERMINISTIC = ("import sys, tensorflow as tf; tf.config.experimental.enable_op_determinism(); "
                 "from ecgsl_keras.cli.main import run_command; sys.exit(run_command('quickstart', sys.argv[1:]))")


def run_once(tree: Path, run_dir: Path, env: dict[str, str], deterministic: bool = False) -> dict:
    """One quickstart from ``tree`` into ``run_dir``: its figures and the hashes of its stages' histories."""
    command = [sys.executable, *(["-c", DETERMINISTIC] if deterministic else ["-m", "ecgsl_keras.quickstart"]),
               "--run-dir", str(run_dir), "--overwrite", "--verbose", "0"]
    child_env = {**os.environ, "PYTHONPATH": str(tree), **env}
    done = subprocess.run(command, cwd=tree, stdout=subprocess.PIPE, text=True, env=child_env)
    if done.returncode != 0:
        raise SystemExit(f"error: the quickstart in {tree} exited with status {done.returncode}")
    summary = json.loads([line for line in done.stdout.splitlines() if line.strip()][-1])
    return {
        "env": env,
        "op_determinism": deterministic,
        "validation": {key: summary["validation"][key] for key in ("macro_f1", "challenge_f1", "accuracy")},
        "validation_last_epoch": {key: summary["validation_last_epoch"][key]
                                  for key in ("macro_f1", "challenge_f1", "accuracy")},
        "finetune_best_epoch": summary["stages"]["finetune"]["best"]["epoch"],
        "history_sha256": {stage: hashlib.sha256((run_dir / stage / "history.csv").read_bytes()).hexdigest()
                           for stage in STAGES},
        "seconds": summary["seconds"]["total"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the run folders")
    parser.add_argument("--old-tree", type=Path, help="another checkout to run once (with --old-rev)")
    parser.add_argument("--old-rev", help="the commit --old-tree holds (recorded in the JSON)")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON file to write (default %(default)s)")
    args = parser.parse_args(argv)
    if (args.old_tree is None) != (args.old_rev is None):
        parser.error("--old-tree and --old-rev go together")
    plan = [("default", ROOT, {}, False), ("default_again", ROOT, {}, False), ("one_thread", ROOT, ONE_THREAD, False),
            ("op_determinism", ROOT, {}, True), ("one_thread_op_determinism", ROOT, ONE_THREAD, True)]
    if args.old_tree is not None:
        plan.append(("old_rev", args.old_tree.resolve(), {}, False))
    runs = {}
    for name, tree, env, deterministic in plan:
        print(f"run {name} ({tree}, {env or 'default threads'}, op determinism {deterministic})", file=sys.stderr)
        runs[name] = run_once(tree, args.work / name, env, deterministic)
    first, again, one = runs["default"], runs["default_again"], runs["one_thread"]
    det, det_one = runs["op_determinism"], runs["one_thread_op_determinism"]
    result = {
        "command": "python -m ecgsl_keras.quickstart --run-dir RUN --overwrite --verbose 0",
        "script": "python benchmarks/quickstart_repeat.py --work WORK" + (
            f" --old-tree OLD --old-rev {args.old_rev}" if args.old_rev else ""),
        "measured": {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count()},
        "old_rev": args.old_rev,
        "runs": runs,
        "repeat_identical": first["history_sha256"] == again["history_sha256"]
                            and first["validation"] == again["validation"],
        "one_thread_identical": first["history_sha256"] == one["history_sha256"],
        # does op determinism change the figures (each thread setting), or make the thread count not matter?
        "op_determinism_same_figures": det["validation"] == first["validation"]
                                       and det_one["validation"] == one["validation"],
        "op_determinism_one_thread_identical": det["validation"] == det_one["validation"],
        # the spread the thread count makes, best epoch and last epoch (one thread minus the default)
        "one_thread_minus_default": {
            "best_macro_f1": one["validation"]["macro_f1"] - first["validation"]["macro_f1"],
            "last_macro_f1": one["validation_last_epoch"]["macro_f1"] - first["validation_last_epoch"]["macro_f1"],
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

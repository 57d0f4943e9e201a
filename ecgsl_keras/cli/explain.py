"""``ecgsl explain`` (and ``python -m ecgsl_keras.explain``): the command line of ``ecgsl_keras.evaluation.explain``."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ecgsl_keras.cli import runner
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.evaluation.explain import METHODS  # no TensorFlow at import

log = logging.getLogger("ecgsl_keras.cli.explain")


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("explain", runner.describe("ecgsl_keras.evaluation.explain"))
    p.add_argument("--model", required=True, help="run folder, .keras file or pretrained model name")
    p.add_argument("--record", required=True, help="WFDB record path without extension")
    p.add_argument("--lead", help="lead name (default: the record's first lead)")
    p.add_argument("--method", choices=METHODS, default="vanilla", help="gradient method (default vanilla)")
    p.add_argument("--class", dest="class_name", help="class to explain (default: the predicted class)")
    p.add_argument("--seed", type=int, default=0, help="smoothgrad noise seed")
    p.add_argument("--out", required=True, help="folder for RECORD_METHOD.png and RECORD_METHOD.npz")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv, level=logging.WARNING)


def _run(args, parser) -> int:
    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.evaluation import plot
    from ecgsl_keras.evaluation.explain import load, saliency, tf_explain_cores

    tf_explain_cores()
    signal, fs, lead = read_lead(args.record, args.lead)
    ex = load(args.model)
    class_index = None
    if args.class_name is not None:
        if args.class_name not in ex.label_names:
            raise ConfigError("<class>", "bad_config", f"class {args.class_name!r} not in {ex.label_names}")
        class_index = ex.label_names.index(args.class_name)
    result = saliency(ex, signal, fs, method=args.method, class_index=class_index, path=args.record, seed=args.seed)
    name = f"{Path(args.record).name}_{args.method}"
    out = Path(args.out)
    title = (f"{Path(args.record).name} lead {lead}: {result.model_kind} predicts {result.label}; "
             f"{args.method} saliency of p({result.class_name})")
    if result.attention is None:
        log.warning("%s: the %s model has no attention pooling: saliency only, no attention bars",
                    ex.source, result.model_kind)
    png = plot.save(result.figure(title=title), out / f"{name}.png")
    npz = result.save_npz(out / f"{name}.npz")
    summary = {"record": str(args.record), "lead": lead, "model": str(args.model), "png": png, "npz": npz}
    summary.update(result.summary())
    runner.print_result(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

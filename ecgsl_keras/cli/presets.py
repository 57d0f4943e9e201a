"""``ecgsl presets`` (and ``python -m ecgsl_keras.pretrained``): the command line of ``ecgsl_keras.store.presets``
and ``ecgsl_keras.training.publish``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecgsl_keras.cli import runner
from ecgsl_keras.errors import ECGSLError
from ecgsl_keras.store.presets import ENV_VAR, PACKAGE_ROOT, list_presets, metadata, preset_dir, roots, verify_preset


def build_parser() -> argparse.ArgumentParser:
    p = runner.make_parser("presets", runner.describe("ecgsl_keras.store.presets")
                           + " list, verify, or build one from a run (ecgsl_keras.training.publish).")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build a preset from a finished run folder or an ensemble .keras")
    b.add_argument("--run", required=True, help="run folder, or a .keras file with its run's config.json beside it")
    b.add_argument("--name", required=True, help="preset name (letters, digits, _ - .)")
    b.add_argument("--description", required=True, help="one-line description")
    b.add_argument("--card-extra", help="Markdown file appended to the model card")
    b.add_argument("--booster", help="a saved StackedClassifier folder (stacking.json + booster.txt) to ship with the "
                                     "model: the preset then serves the deep model and the booster together")
    b.add_argument("--signal-member", nargs="+", default=[], metavar="FILE.keras",
                   help="with --booster: models of the continuous signal (one (batch, samples, 1) input, e.g. a "
                        "ResNet-baseline ensemble) shipped beside the model; the deep side is then the mean of every "
                        "member's class probabilities (a mixed deep side, ecgsl_keras.serving.stacked)")
    b.add_argument("--serving", metavar="FILE.json",
                   help='settings the preset serves with instead of the trained ones, a JSON object of config '
                        'sections, e.g. {"train": {"predict_window_s": 30}, "signal": {"detect_at_native_rate": false}}')
    b.add_argument("--version", default="1", help="preset version (default 1)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing preset of that name")
    b.add_argument("--out-root", help=f"presets folder to write into (default {PACKAGE_ROOT})")
    ls = sub.add_parser("list", help="print the presets found as one JSON line")
    ls.add_argument("--root", help=f"search this folder only (default: ${ENV_VAR}, then the package)")
    v = sub.add_parser("verify", help="check a preset's files against their SHA-256")
    v.add_argument("name")
    v.add_argument("--root", help="search this folder only")
    return p


def main(argv=None) -> int:
    return runner.run(build_parser, _run, argv, models=lambda args: args.command == "build")


def _run(args, parser) -> int:
    if args.command == "build":
        from ecgsl_keras.store.runs import read_json
        from ecgsl_keras.training.publish import build

        serving = read_json(args.serving) if args.serving else None
        meta = build(args.run, args.name, args.description, card_extra=args.card_extra,
                     overwrite=args.overwrite, root=args.out_root, version=args.version, booster=args.booster,
                     signal_members=args.signal_member, serving=serving)
        out_root = Path(args.out_root) if args.out_root else PACKAGE_ROOT
        result = {"preset": args.name, "path": str(out_root / args.name), "files": meta["files"],
                  "validation": (meta.get("validation") or {}).get("metrics")}
    elif args.command == "list":
        entries = []
        for name in list_presets(args.root):
            try:
                meta = metadata(name, args.root)
                entries.append({"name": name, "description": meta.get("description"),
                                "task": (meta.get("task") or {}).get("name"), "stage": meta.get("stage"),
                                "path": str(preset_dir(name, args.root))})
            except ECGSLError as error:
                entries.append({"name": name, "error": str(error)})
        result = {"presets": entries, "roots": [str(r) for r in roots(args.root)]}
    else:
        meta = verify_preset(args.name, args.root)
        result = {"preset": args.name, "ok": True, "files": sorted(meta["files"])}
    runner.print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The command line and records of the edge looks on the CinC 2017 training records (``next_step_effect.py``,
``t_wave_rate_look.py``): one place for their options, the Python path's signal config they start from
(``gap_port.py``'s point "on_post_wide") and the split (``prepare.assign_splits``, seed 42, the presets' split: never
the validation records the agreement is measured on).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def training_look(doc: str, argv=None) -> tuple:
    """(the parsed ``--cinc``, ``--every``, ``--out``; the ``SignalConfig`` of ``gap_port.py``'s "on_post_wide"; the
    CinC 2017 reader; every ``--every``-th training record id in sort order). ``doc``'s first line describes the
    command."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.prepare import assign_splits
    from gap_port import _configs

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--cinc", default="/work/shared/data/cinc2017/training2017")
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    _, _, configs = _configs()
    reader = open_dataset("cinc2017", args.cinc)
    splits = assign_splits(reader, "cinc2017", "default", 0.2, 42)
    ids = sorted(r for r, s in splits.items() if s == "train")[::args.every]
    return args, configs["on_post_wide"].signal, reader, ids


def finish(result: dict, script: str, args, argv=None) -> int:
    """Stamp ``result`` with the command that ran ``script`` (a path from the repository root), write it to ``--out``
    (when given) and print it as the last line of stdout; 0."""
    result["command"] = f"python {script} " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0

#!/usr/bin/env python3
"""Sizes of the presets shipped in the package, for docs/presets.md's size column.

    python benchmarks/preset_sizes.py          # writes benchmarks/results/preset_sizes.json, prints it

For every folder of ``ecgsl_keras/presets/``: the number of files and their total size in bytes
(every file of the folder, ``metadata.json`` included: what a user downloads). Pure Python: no
TensorFlow. ``tests/test_preset_sizes.py`` fails when the JSON and the folders differ, so a rebuilt
preset cannot leave a stale size in the docs: run this script again after ``ecgsl presets build``.
The last line of stdout is the JSON object.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "ecgsl_keras" / "presets"
OUT = ROOT / "benchmarks" / "results" / "preset_sizes.json"


def preset_sizes(presets: Path = PRESETS) -> dict:
    """``{"presets": {name: {"bytes": total, "files": count}}}`` for each preset folder (one with a metadata.json)."""
    sizes = {}
    for folder in sorted(p for p in presets.iterdir() if (p / "metadata.json").is_file()):
        # presets are flat folders; skip caches that a local import or editor may leave beside the files
        files = [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")]
        sizes[folder.name] = {"bytes": sum(f.stat().st_size for f in files), "files": len(files)}
    return {"command": "python benchmarks/preset_sizes.py", "unit": "bytes", "presets": sizes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="JSON file to write (default %(default)s)")
    args = parser.parse_args(argv)
    result = preset_sizes()
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Render the figures of README.md and docs/*.md from the results JSON files.

Every figure in the README and the docs that comes from a results JSON
(``experiments/*/results.json``, ``benchmarks/results/*.json``,
``ecgsl_keras/presets/*/metadata.json``) is written between two HTML comments,
which Markdown and MkDocs do not show::

    <!-- fig experiments/cinc2017/results.json ecgsl_seeds.macro_f1.mean .3f -->0.733<!-- /fig -->

The opening comment holds, separated by spaces:

1. the JSON file, relative to the repository root;
2. the key path: keys joined by dots, list indices and keys that hold a dot, a
   space or a slash in brackets: ``variants.scratch_focal.accuracy``,
   ``label_efficiency.ecgsl["0.05"]``, ``table.N["ecgsl/vanilla"].p_wave.mean``,
   ``runs[0].seconds``;
3. a Python format specification: ``.3f``, ``+.3f``, ``.1%``, ``,`` (thousands),
   ``.0f``;
4. optionally a scale applied before formatting: ``*1000`` (seconds to ms),
   ``*100`` (a share as a percentage without the sign).

Usage (pure Python; no TensorFlow import)::

    python docs/render_figures.py --check     # exit 1 listing every marker that disagrees
    python docs/render_figures.py --write     # rewrite the marked values in place

With no file arguments both act on README.md, every docs/**/*.md file and experiments/*/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MARKER = re.compile(
    r"<!--\s*fig\s+(?P<spec>[^>]*?)\s*-->(?P<text>(?:(?!<!--).)*?)<!--\s*/fig\s*-->", re.DOTALL
)
OPENING = re.compile(r"<!--\s*fig\s")
KEY_TOKEN = re.compile(r"""\.?(?:(?P<name>[^.\[\]"']+)|\[(?P<index>-?\d+)\]|\[(?P<q>["'])(?P<quoted>.*?)(?P=q)\])""")


class FigureError(Exception):
    """A marker whose JSON file, key or format cannot be used."""


@dataclass
class Marker:
    file: Path
    line: int
    spec: str
    text: str
    start: int
    end: int
    text_start: int
    text_end: int


def parse_key_path(path: str) -> list:
    """Split ``a.b[0]["c.d"]`` into ``["a", "b", 0, "c.d"]``."""
    parts: list = []
    pos = 0
    while pos < len(path):
        m = KEY_TOKEN.match(path, pos)
        if not m or m.end() == pos:
            raise FigureError(f"bad key path {path!r} at character {pos}")
        if m.group("name") is not None:
            parts.append(m.group("name"))
        elif m.group("index") is not None:
            parts.append(int(m.group("index")))
        else:
            parts.append(m.group("quoted"))
        pos = m.end()
    if not parts:
        raise FigureError("empty key path")
    return parts


_json_cache: dict[Path, object] = {}


def load_json(path: Path):
    if path not in _json_cache:
        try:
            _json_cache[path] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FigureError(f"JSON file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise FigureError(f"{path}: not valid JSON ({exc})") from None
    return _json_cache[path]


def lookup(data, parts: list, key_path: str):
    value = data
    for part in parts:
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                raise FigureError(f"key {key_path!r}: no index [{part}]")
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                raise FigureError(f"key {key_path!r}: no key {part!r}")
            value = value[part]
    return value


def render(spec: str, root: Path = ROOT) -> str:
    """The text a marker's specification gives: its JSON value, formatted."""
    fields = spec.split()
    if len(fields) not in (3, 4):
        raise FigureError(f"marker {spec!r}: expected 'FILE KEYPATH FORMAT [*SCALE]'")
    rel, key_path, fmt = fields[:3]
    scale = 1.0
    if len(fields) == 4:
        if not fields[3].startswith("*"):
            raise FigureError(f"marker {spec!r}: the scale must look like *1000")
        try:
            scale = float(fields[3][1:])
        except ValueError:
            raise FigureError(f"marker {spec!r}: bad scale {fields[3]!r}") from None
    value = lookup(load_json(root / rel), parse_key_path(key_path), key_path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str) and len(fields) == 3 and fmt == "s":
            return value
        raise FigureError(f"{rel} {key_path}: not a number ({value!r})")
    if len(fields) == 4:
        value = value * scale
    try:
        return format(value, fmt)
    except ValueError as exc:
        raise FigureError(f"marker {spec!r}: format {fmt!r} ({exc})") from None


def find_markers(path: Path) -> tuple[list[Marker], list[str]]:
    text = path.read_text(encoding="utf-8")
    markers, problems = [], []
    covered = []
    for m in MARKER.finditer(text):
        markers.append(Marker(path, text.count("\n", 0, m.start()) + 1, m.group("spec"),
                              m.group("text"), m.start(), m.end(), m.start("text"), m.end("text")))
        covered.append((m.start(), m.end()))
    for m in OPENING.finditer(text):
        if not any(a <= m.start() < b for a, b in covered):
            line = text.count("\n", 0, m.start()) + 1
            problems.append(f"{path}:{line}: marker without its closing <!-- /fig -->")
    return markers, problems


def default_files(root: Path = ROOT) -> list[Path]:
    files = [root / "README.md"]
    files += sorted((root / "docs").rglob("*.md"))
    files += sorted((root / "experiments").glob("*/RESULTS.md"))
    return [f for f in files if f.exists()]


def check(files: list[Path], root: Path = ROOT) -> list[str]:
    """Every disagreement, as 'file:line: ...'; empty when all markers agree."""
    _json_cache.clear()
    problems: list[str] = []
    for path in files:
        markers, bad = find_markers(path)
        problems += bad
        for mk in markers:
            try:
                expected = render(mk.spec, root)
            except FigureError as exc:
                problems.append(f"{path}:{mk.line}: {exc}")
                continue
            if mk.text != expected:
                problems.append(f"{path}:{mk.line}: [{mk.spec}] says {mk.text!r}, the JSON gives {expected!r}")
    return problems


def write(files: list[Path], root: Path = ROOT) -> tuple[int, list[str]]:
    """Rewrite every marker's text from its JSON; returns (markers changed, problems)."""
    _json_cache.clear()
    changed, problems = 0, []
    for path in files:
        markers, bad = find_markers(path)
        problems += bad
        text = path.read_text(encoding="utf-8")
        out, last = [], 0
        for mk in markers:
            try:
                expected = render(mk.spec, root)
            except FigureError as exc:
                problems.append(f"{path}:{mk.line}: {exc}")
                continue
            if expected != mk.text:
                out.append(text[last:mk.text_start])
                out.append(expected)
                last = mk.text_end
                changed += 1
        if last:
            out.append(text[last:])
            path.write_text("".join(out), encoding="utf-8")
    return changed, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 if any marked figure disagrees with its JSON")
    mode.add_argument("--write", action="store_true", help="rewrite the marked figures from their JSON")
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: README.md, docs/**/*.md)")
    parser.add_argument("--root", type=Path, default=ROOT, help="folder the JSON paths are relative to")
    args = parser.parse_args(argv)
    files = args.files or default_files(args.root)
    if args.check:
        problems = check(files, args.root)
        n = sum(len(find_markers(f)[0]) for f in files)
        for p in problems:
            print(p)
        if problems:
            print(f"{len(problems)} of {n} figures disagree with their JSON", file=sys.stderr)
            return 1
        print(f"{n} figures in {len(files)} files agree with their JSON", file=sys.stderr)
        return 0
    changed, problems = write(files, args.root)
    for p in problems:
        print(p)
    print(f"{changed} figures rewritten", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

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

A derived figure (a difference, a ratio, a sum of measured values) is written as an expression in
place of the key path, its operands and operators separated by spaces, evaluated left to right
(no precedence), so that the figure still comes from the JSON and never from a hand-typed sum::

    <!-- fig benchmarks/results/e.json a.int8.size_bytes - other.json:sizes_bytes.int8 .0f *0.001 -->39<!-- /fig -->
    <!-- fig benchmarks/results/e.json 0.98 - cinc.class_agreement_int8 .1f *100 -->1.3<!-- /fig -->
    <!-- fig r.json runs.a.seconds + runs.b.seconds / 60 .0f -->49<!-- /fig -->

Operators: ``+ - * /``. An operand is a key path in the marker's file, ``FILE:KEYPATH`` for a key of
another JSON file (relative to the repository root), or a plain number (``0.98``, ``400000``: a goal
or a unit, never a measured value).

Usage (pure Python; no TensorFlow import)::

    python docs/render_figures.py --check     # exit 1 listing every marker that disagrees
    python docs/render_figures.py --write     # rewrite the marked values in place

With no file arguments both act on README.md, every docs/**/*.md file and experiments/*/RESULTS.md.
"""

from __future__ import annotations

import bisect
import argparse
import json
import operator
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


OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
LITERAL = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def operand(token: str, rel: str, root: Path):
    """A derived figure's operand: a number literal, ``FILE:KEYPATH`` or a key path of ``rel``."""
    if LITERAL.fullmatch(token):
        return float(token)
    if ":" in token and token.split(":", 1)[0].endswith(".json"):
        rel, token = token.split(":", 1)
    value = lookup(load_json(root / rel), parse_key_path(token), token)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FigureError(f"{rel} {token}: not a number ({value!r})")
    return value


def render(spec: str, root: Path = ROOT) -> str:
    """The text a marker's specification gives: its JSON value (or expression of values), formatted."""
    fields = spec.split()
    scale = None
    if len(fields) > 3 and fields[-1].startswith("*") and fields[-1] != "*":
        try:
            scale = float(fields[-1][1:])
        except ValueError:
            raise FigureError(f"marker {spec!r}: bad scale {fields[-1]!r}") from None
        fields = fields[:-1]
    if len(fields) < 3 or len(fields) % 2 == 0:
        raise FigureError(f"marker {spec!r}: expected 'FILE KEYPATH [OP OPERAND ...] FORMAT [*SCALE]'")
    rel, terms, fmt = fields[0], fields[1:-1], fields[-1]
    if len(terms) == 1:
        value = lookup(load_json(root / rel), parse_key_path(terms[0]), terms[0])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str) and scale is None and fmt == "s":
                return value
            raise FigureError(f"{rel} {terms[0]}: not a number ({value!r})")
    else:
        value = operand(terms[0], rel, root)
        for op, token in zip(terms[1::2], terms[2::2]):
            if op not in OPERATORS:
                raise FigureError(f"marker {spec!r}: {op!r} is not one of + - * /")
            try:
                value = OPERATORS[op](value, operand(token, rel, root))
            except ZeroDivisionError:
                raise FigureError(f"marker {spec!r}: division by zero") from None
    if scale is not None:
        value = value * scale
    try:
        return format(value, fmt)
    except ValueError as exc:
        raise FigureError(f"marker {spec!r}: format {fmt!r} ({exc})") from None


def find_markers(path: Path) -> tuple[list[Marker], list[str]]:
    text = path.read_text(encoding="utf-8")
    markers, problems = [], []
    covered = []
    line, counted_to = 1, 0   # line numbers counted on from the previous marker (a count from 0 each is quadratic)
    for m in MARKER.finditer(text):
        line += text.count("\n", counted_to, m.start())
        counted_to = m.start()
        markers.append(Marker(path, line, m.group("spec"),
                              m.group("text"), m.start(), m.end(), m.start("text"), m.end("text")))
        covered.append((m.start(), m.end()))
    starts = [a for a, _ in covered]   # sorted and disjoint (finditer): bisect finds the one span that could hold it
    for m in OPENING.finditer(text):
        i = bisect.bisect_right(starts, m.start()) - 1
        if i < 0 or m.start() >= covered[i][1]:
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

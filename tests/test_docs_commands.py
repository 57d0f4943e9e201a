"""The commands shown in README.md and docs/*.md exist: the README's test command is the one `.ci/run`
runs, and every `ecgsl <command> ...` line of a code block names a command and flags its parser has.
Parsers only (no TensorFlow): a renamed flag or command fails here instead of in a reader's shell."""

import argparse
import importlib
import re
from pathlib import Path

import pytest

from ecgsl_keras.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def _code_lines(page: Path):
    """(line number, command) for each shell line of the page's fenced code blocks, continuations joined."""
    lines, out, fence = page.read_text(encoding="utf-8").split("\n"), [], None
    i = 0
    while i < len(lines):
        text = lines[i]
        if text.startswith("```"):
            fence = None if fence is not None else text[3:].strip()
        elif fence in ("bash", "sh", ""):
            start, command = i + 1, text.strip()
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + " " + lines[i].strip()
            out.append((start, re.sub(r"\s+#.*$", "", command)))
        i += 1
    return out


def _options(parser: argparse.ArgumentParser, words):
    """Option strings of ``parser``, descending into the sub-command that ``words`` names first."""
    options = set()
    for action in parser._actions:
        options.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            chosen = next((w for w in words if w in action.choices), None)
            if chosen is not None:
                options |= _options(action.choices[chosen], words)
    return options


def _parser(command: str, words):
    module = importlib.import_module(COMMANDS[command][0])
    if command == "bench":           # builds only the chosen benchmark's arguments, returns (parser, module)
        return module.build_parser(module._chosen(words))[0]
    return module.build_parser()


def _ecgsl_calls():
    for page in PAGES:
        for line, command in _code_lines(page):
            for part in re.split(r"\s*&&\s*|\s*\|\s*", command):
                words = part.split()
                if len(words) > 1 and words[0] == "ecgsl" and not words[1].startswith(("-", "<")):
                    yield page.relative_to(ROOT), line, words[1:]


def test_the_readme_test_command_is_what_ci_runs():
    readme = [c for _, c in _code_lines(ROOT / "README.md") if "pytest" in c]
    assert readme, "README.md shows no test command"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert any(line.strip().startswith(readme[0]) for line in ci.splitlines()), \
        f"README's test command {readme[0]!r} does not start a line of .ci/run"


def test_every_documented_ecgsl_command_and_flag_exists():
    calls = list(_ecgsl_calls())
    assert len(calls) >= 30, f"only {len(calls)} ecgsl commands found in the docs"
    bad = []
    for page, line, words in calls:
        if words[0] not in COMMANDS:
            bad.append(f"{page}:{line}: unknown command ecgsl {words[0]}")
            continue
        if "--" in words:            # what follows `--` goes to another program (Beam's runner)
            words = words[:words.index("--")]
        options = _options(_parser(words[0], words[1:]), words[1:])
        for word in words[1:]:
            flag = word.lstrip("[(").split("=")[0].rstrip("])|,")
            if flag.startswith("--") and flag not in options:
                bad.append(f"{page}:{line}: ecgsl {words[0]} has no {flag}")
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_is_listed_in_the_commands_page(command):
    assert f"`ecgsl {command}`" in (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")

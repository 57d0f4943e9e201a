"""The figures in README.md and docs/*.md agree with the results JSON files they come from."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "render_figures.py"


def _load():
    spec = importlib.util.spec_from_file_location("render_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rf = _load()


def test_readme_and_docs_figures_agree_with_their_json():
    files = rf.default_files(ROOT)
    assert ROOT / "README.md" in files
    n = sum(len(rf.find_markers(f)[0]) for f in files)
    assert n >= 20, f"only {n} figure markers found"
    assert rf.check(files, ROOT) == []


def test_an_altered_figure_is_reported(tmp_path):
    page = tmp_path / "page.md"
    shutil.copy(ROOT / "README.md", page)
    text = page.read_text(encoding="utf-8")
    markers, _ = rf.find_markers(page)
    first = markers[0]
    wrong = "9.999" if first.text != "9.999" else "8.888"
    page.write_text(text[:first.text_start] + wrong + text[first.text_end:], encoding="utf-8")
    problems = rf.check([page], ROOT)
    assert len(problems) == 1
    assert f"{page}:{first.line}:" in problems[0] and repr(wrong) in problems[0]
    # the command line says so too, with exit status 1, and --write repairs it
    cmd = [sys.executable, str(SCRIPT), "--root", str(ROOT)]
    result = subprocess.run(cmd + ["--check", str(page)], capture_output=True, text=True)
    assert result.returncode == 1 and repr(wrong) in result.stdout
    assert subprocess.run(cmd + ["--write", str(page)], capture_output=True).returncode == 0
    assert page.read_text(encoding="utf-8") == text
    assert subprocess.run(cmd + ["--check", str(page)], capture_output=True).returncode == 0


def test_missing_key_missing_file_and_unclosed_marker_are_reported(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"a": {"b.c": [0.5, 0.25]}}))
    page = tmp_path / "p.md"
    page.write_text(
        "ok <!-- fig r.json a['b.c'][1] .2f -->0.25<!-- /fig -->\n"
        "pct <!-- fig r.json a['b.c'][0] .1% -->50.0%<!-- /fig -->\n"
        "key <!-- fig r.json a.nope .2f -->0.25<!-- /fig -->\n"
        "file <!-- fig gone.json a .2f -->1<!-- /fig -->\n"
        "open <!-- fig r.json a .2f -->1\n"
    )
    problems = rf.check([page], tmp_path)
    assert len(problems) == 3
    assert any(":3:" in p and "'nope'" in p for p in problems)
    assert any(":4:" in p and "not found" in p for p in problems)
    assert any(":5:" in p and "closing" in p for p in problems)

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


def test_derived_figures_difference_ratio_other_file_and_literal(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"a": {"x": 333088, "s": [156, 1682.4, 1107]}, "agree": 0.967}))
    (tmp_path / "o.json").write_text(json.dumps({"sizes": {"int8": 293968}, "name": "n"}))
    page = tmp_path / "p.md"
    page.write_text(
        "kb <!-- fig r.json a.x - o.json:sizes.int8 .0f *0.001 -->39<!-- /fig -->\n"
        "pts <!-- fig r.json 0.98 - agree .1f *100 -->1.3<!-- /fig -->\n"
        "min <!-- fig r.json a.s[0] + a.s[1] + a.s[2] / 60 .0f -->49<!-- /fig -->\n"
        "ratio <!-- fig r.json a.x / 400000 .1f -->0.8<!-- /fig -->\n"
        "op <!-- fig r.json a.x % 2 .0f -->1<!-- /fig -->\n"
        "str <!-- fig r.json a.x - o.json:name .0f -->1<!-- /fig -->\n"
        "zero <!-- fig r.json a.x / 0 .0f -->1<!-- /fig -->\n"
        "odd <!-- fig r.json a.x - .0f -->1<!-- /fig -->\n"
    )
    problems = rf.check([page], tmp_path)
    assert len(problems) == 4, problems
    assert any(":5:" in p and "'%'" in p for p in problems)
    assert any(":6:" in p and "not a number" in p for p in problems)
    assert any(":7:" in p and "division by zero" in p for p in problems)
    assert any(":8:" in p and "expected" in p for p in problems)
    # left to right: (156 + 1682.4 + 1107) / 60 = 49.09; --write keeps what agrees, repairs what does not
    assert rf.render("r.json a.s[0] + a.s[1] + a.s[2] / 60 .2f", tmp_path) == "49.09"
    page.write_text("d <!-- fig r.json a.x - o.json:sizes.int8 , -->1<!-- /fig -->\n")
    assert rf.write([page], tmp_path) == (1, [])
    assert "-->39,120<!--" in page.read_text()

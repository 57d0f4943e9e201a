"""benchmarks/results/preset_sizes.json (docs/presets.md's size column) matches the preset folders."""

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "preset_sizes.py"


def _load():
    spec = importlib.util.spec_from_file_location("preset_sizes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_sizes_match_the_preset_folders():
    ps = _load()
    committed = json.loads(ps.OUT.read_text(encoding="utf-8"))
    assert committed == ps.preset_sizes(), (
        "benchmarks/results/preset_sizes.json is stale: run `python benchmarks/preset_sizes.py` "
        "and `python docs/render_figures.py --write`")
    assert set(committed["presets"]) == {p.parent.name for p in ps.PRESETS.glob("*/metadata.json")}


def test_sizes_count_every_file_and_skip_hidden_ones(tmp_path):
    ps = _load()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metadata.json").write_text("{}")
    (tmp_path / "a" / "model.keras").write_bytes(b"x" * 10)
    (tmp_path / "a" / ".DS_Store").write_bytes(b"y" * 5)
    (tmp_path / "not_a_preset").mkdir()
    assert ps.preset_sizes(tmp_path)["presets"] == {"a": {"bytes": 12, "files": 2}}

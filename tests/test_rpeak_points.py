"""ecgsl_keras.data.rpeak_points: the named detector points load and validate, bad names and bad files are clear
errors, each shipped point equals the experiment point it was measured as (one place for each fact: the experiments
build the points, the library ships them, this test holds the two equal), mitdb-d1 meets issue 21's D1 target on the
MIT-BIH fixture, and bench rpeaks / prepare take ``--rpeak-point``."""
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.bench import __main__ as bench_main
from ecgsl_keras.bench import rhythms
from ecgsl_keras.bench.rpeaks import read_artifacts, read_mitdb
from ecgsl_keras.config import SignalConfig
from ecgsl_keras.data import rpeak_points
from ecgsl_keras.data.rpeaks import find_rpeaks, match_peaks
from ecgsl_keras.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments" / "rpeaks"
TARGET = 0.997                 # issue 21's D1 target: every rhythm's Se and +P
TOLERANCE_S = 0.15             # bench rpeaks' matching tolerance


def test_shipped_points_load_and_validate():
    assert rpeak_points.names() == ["default", "mitdb-d1", "mitdb-d1-100hz"]
    for name in rpeak_points.names():
        point = rpeak_points.get(name)
        config = point.config()
        config.validate()
        assert point.name == name and point.summary and point.use_for
        for key in ("run", "results", "keys", "records", "held_out", "blind"):
            assert key in point.measured, (name, key)
        assert (REPO / point.measured["results"]).is_file()        # the figures' results JSON is in the repo
        # the fields the point sets are the config's; the others the default's
        assert all(getattr(config, k) == getattr(SignalConfig.from_dict(point.overrides), k) for k in point.overrides)
    assert rpeak_points.point_config("default") == SignalConfig()
    assert rpeak_points.get("mitdb-d1").detect_rate_hz is None
    assert rpeak_points.get("mitdb-d1-100hz").detect_rate_hz == 100.0
    assert rpeak_points.get("mitdb-d1").measured["held_out"] is True
    assert rpeak_points.get("mitdb-d1-100hz").measured["held_out"] is False


def test_point_over_a_base_replaces_only_its_fields():
    base = SignalConfig(beat_len=128, r_offset=40, rpeak_guard_constants={"blocked_p_gap": 2.0, "run_min": 3})
    point = rpeak_points.get("mitdb-d1")
    config = point.config(base)
    assert config.beat_len == 128 and config.r_offset == 40                  # the base's own fields stay
    # a field the point sets is replaced whole: its guard constants, not a merge with the base's
    assert config.rpeak_guard_constants == rpeak_points.point_config("mitdb-d1").rpeak_guard_constants
    assert dataclasses.replace(config, beat_len=SignalConfig().beat_len,
                               r_offset=SignalConfig().r_offset) == point.config()


def test_unknown_point_names_it_and_lists_the_known_ones():
    for bad in ("mitdb-d2", "../config", ""):
        with pytest.raises(ConfigError) as info:
            rpeak_points.get(bad)
        assert repr(bad) in str(info.value)
        assert "default, mitdb-d1, mitdb-d1-100hz" in str(info.value)


@pytest.mark.parametrize("text, says", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expects a JSON object"),
    ('{"name": "mitdb-d1"}', "missing keys"),
    (None, "rpeak_no_such_field"),
    (None, "GuardConstants.searchback_p_wave must be from"),
])
def test_corrupt_point_file_names_the_file(tmp_path, monkeypatch, text, says):
    folder = tmp_path / "points"
    shutil.copytree(rpeak_points.POINT_FILES, folder)
    path = folder / "mitdb-d1.json"
    if text is None:
        values = json.loads(path.read_text())
        if says == "rpeak_no_such_field":
            values["signal"]["rpeak_no_such_field"] = 1
        else:
            values["signal"]["rpeak_guard_constants"]["searchback_p_wave"] = -1.0
        text = json.dumps(values)
    path.write_text(text)
    monkeypatch.setattr(rpeak_points, "POINT_FILES", folder)
    with pytest.raises(ConfigError) as info:
        rpeak_points.get("mitdb-d1")
    assert str(path) in str(info.value) and says in str(info.value)
    rpeak_points.get("default")                                    # the other files still load


@pytest.fixture(scope="module")
def experiment_points():
    """The experiments' own points: minimum_gap.points("s41-combo")'s last (run s41-combo, natively) and region_rate's
    run s41-combo "combo" (at 100 Hz), built as the experiments build them (their modules import each other by
    folder)."""
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import minimum_gap
        import region_rate
        name, native, _, options = list(minimum_gap.points("s41-combo"))[-1]
        assert options == minimum_gap.GRIDS["s41-combo"][-1]
        # the results JSON's name of the point (minimum_gap.SHORT: the baseline's long name shortened)
        return {"mitdb-d1": (minimum_gap.SHORT[name], native), "mitdb-d1-100hz": ("s58_100_combo",
                                                               region_rate.RUNS["s41-combo"].configs()["combo"])}
    finally:
        sys.path.remove(str(EXPERIMENTS))


@pytest.mark.parametrize("name", ["mitdb-d1", "mitdb-d1-100hz"])
def test_shipped_point_equals_the_experiment_point(experiment_points, name):
    key, config = experiment_points[name]
    point = rpeak_points.get(name)
    assert point.config() == config
    assert point.measured["point_key"] == key
    # the point is the one the results JSON names (the most chosen / the 100 Hz point of the run)
    results = json.loads((REPO / point.measured["results"]).read_text())
    if name == "mitdb-d1":
        assert all(seed["most_chosen"] == key for seed in results["per_seed"].values())
        assert key in results["grid_errors_all_22_mean"]
    else:
        assert key in results["points"]
        assert {"name": key, "variant": "combo", "rate": "100"}.items() <= {
            p["name"]: p for p in results["plan"]["points"]}[key].items()


def test_default_point_is_every_presets_detector():
    """The claim of the 'default' point: every shipped model preset's R-peak settings are the defaults."""
    presets = sorted((REPO / "ecgsl_keras" / "presets").glob("*/config.json"))
    assert len(presets) >= 5
    default = rpeak_points.point_config("default")
    for path in presets:
        signal = SignalConfig.from_dict(json.loads(path.read_text())["experiment_config"]["signal"])
        fields = [f.name for f in dataclasses.fields(SignalConfig) if f.name.startswith("rpeak_")]
        assert {f: getattr(signal, f) for f in fields} == {f: getattr(default, f) for f in fields}, path


def _built(fixtures_dir, rid, rhythm):
    signal, fs, beats, episodes, _, symbols = read_mitdb(fixtures_dir / "mitdb", rid, with_symbols=True)
    artifacts = read_artifacts(fixtures_dir / "mitdb", rid)
    # as bench rpeaks builds them (seed = record number, run s58b's builder)
    return rhythms.build(rhythm, signal, fs, beats, symbols, episodes, seed=int(rid), artifacts=artifacts,
                         own_onset=True), fs


def test_mitdb_d1_meets_the_d1_target_on_the_fixture(fixtures_dir):
    """find_rpeaks at mitdb-d1 on the two 5-minute MIT-BIH fixture excerpts (119, 208), normal and bigeminy: Se and +P
    at least issue 21's 0.997 on each (measured: 1684 of 1688 beats found, no false one); 208's bigeminy, whose small
    normal beats the default loses, gets more beats than at the default."""
    point = rpeak_points.get("mitdb-d1")
    found = {}
    for rhythm in ("normal", "bigeminy"):
        tp = fn = fp = 0
        for rid in ("119", "208"):
            built, fs = _built(fixtures_dir, rid, rhythm)
            peaks = point.find_rpeaks(built["signal"], fs)
            assert np.array_equal(peaks, find_rpeaks(built["signal"], fs, point.config()))
            match = match_peaks(built["beats"], peaks, int(round(TOLERANCE_S * fs)))
            tp, fn, fp = tp + match["tp"], fn + match["fn"], fp + match["fp"]
            found[rid, rhythm] = match["tp"]
        assert tp / (tp + fn) >= TARGET and tp / (tp + fp) >= TARGET, (rhythm, tp, fn, fp)
    built, fs = _built(fixtures_dir, "208", "bigeminy")
    default = match_peaks(built["beats"], find_rpeaks(built["signal"], fs, SignalConfig()), int(round(TOLERANCE_S * fs)))
    assert found["208", "bigeminy"] > default["tp"]


def _bench(capsys, argv):
    code = bench_main.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", ["mitdb-d1", "mitdb-d1-100hz"])
def test_bench_rpeaks_rpeak_point_on_the_fixture(capsys, fixtures_dir, name):
    code, out, err = _bench(capsys, ["rpeaks", "--data-dir", str(fixtures_dir / "mitdb"), "--rpeak-point", name,
                                     "--rhythms", "normal", "block21", "pause", "bigeminy"])
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["rpeak_point"] == name and result["rpeak_point_differs"] == []
    assert result["rpeak_point_detect_rate_hz"] == rpeak_points.get(name).detect_rate_hz
    for rhythm, figures in result["rhythms"].items():
        # every rhythm at least the D1 target on the fixture (measured: at most 2 misses and 1 false beat each)
        assert figures["Se"] >= TARGET and figures["+P"] >= TARGET, (rhythm, figures)


def test_bench_rpeaks_rpeak_point_with_config_and_bad_combinations(capsys, caplog, fixtures_dir, tmp_path):
    config = tmp_path / "signal.json"
    SignalConfig(rpeak_mindelay_s=0.35, rpeak_guard_t_wave=0.5).save(config)
    code, out, err = _bench(capsys, ["rpeaks", "--data-dir", str(fixtures_dir / "mitdb"), "--records", "119",
                                     "--rpeak-point", "mitdb-d1", "--config", str(config)])
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    # the point's fields replace the file's (rpeak_guard_t_wave); the file's other fields stay and are named
    assert result["rpeak_point_differs"] == ["rpeak_mindelay_s: 0.35 != 0.3"]
    assert "differs from the point as measured: rpeak_mindelay_s" in caplog.text     # the warning on stderr
    # a base the point's fields do not go with (its gap needs a refractory period longer than 0.25 s)
    SignalConfig(rpeak_mindelay_s=0.25).save(config)
    code, out, err = _bench(capsys, ["rpeaks", "--data-dir", str(fixtures_dir / "mitdb"), "--rpeak-point", "mitdb-d1",
                                     "--config", str(config)])
    assert code == 2 and out == "" and "'mitdb-d1' over the given config" in err and "rpeak_mindelay_s" in err
    code, out, err = _bench(capsys, ["rpeaks", "--data-dir", str(fixtures_dir / "mitdb"), "--rpeak-point", "mitdb-d9"])
    assert code == 2 and out == "" and "'mitdb-d9'" in err and "mitdb-d1-100hz" in err
    code, out, err = _bench(capsys, ["rpeaks", "--data-dir", str(fixtures_dir / "mitdb"), "--rpeak-point",
                                     "mitdb-d1-100hz", "--detect-at-target-rate"])
    assert code == 2 and out == "" and "--detect-at-target-rate" in err


def test_prepare_rpeak_point(tmp_path, fixtures_dir, capsys):
    from ecgsl_keras.cli import prepare as prepare_cli

    out = tmp_path / "beats"
    code = prepare_cli.main(["--dataset", "mitdb", "--data-dir", str(fixtures_dir / "mitdb"), "--out", str(out),
                             "--records", "208", "--no-progress", "--rpeak-point", "mitdb-d1"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert SignalConfig.from_dict(manifest["metadata"]["signal_config"]) == rpeak_points.point_config("mitdb-d1")
    # the 100 Hz point was measured with the whole detector at 100 Hz; preprocess detects at the record's rate
    code = prepare_cli.main(["--dataset", "mitdb", "--data-dir", str(fixtures_dir / "mitdb"),
                             "--out", str(tmp_path / "b100"), "--rpeak-point", "mitdb-d1-100hz"])
    err = capsys.readouterr().err
    assert code == 2 and "mitdb-d1-100hz" in err and "record's rate" in err
    assert not (tmp_path / "b100").exists()

"""The V agreement gate of a per-beat stacked model (``modeling.stacking.VGate``, ``stacking.json``'s ``v_gate``,
run v40 of experiments/mitdb served by ``mitdb-beats``): the rule on constructed beats, its spec round trip, a
corrupt entry named by file, and the serving path on the repo fixture with and without the entry."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ecgsl_keras.errors import ConfigError
from helpers import assert_rule_round_trips, assert_stacking_json_refused, preset_copy_without, tiny_beat_stacked

LABELS = ["N", "S", "V", "F", "Q"]
N, S, V = 0, 1, 2
SPEC = {"premature": 0.9, "wide": 1.3, "t": 0.5, "pause": 1.25, "irregular": 0.1}


def _case():
    """Six beats, all called V by the model, each failing one test of the gate but the first."""
    p = np.tile([0.3, 0.1, 0.5, 0.05, 0.05], (7, 1))
    p[6] = [0.6, 0.1, 0.2, 0.05, 0.05]     # called N: never touched
    # columns: pre / neighbours' median, post / neighbours' median, neighbours' spread, QRS width / median beat's
    x = np.array([[1.0, 1.0, 0.02, 1.0],   # on time, no pause, regular, narrow: gated (deep P(V) 0.1 < 0.5)
                  [0.7, 1.3, 0.02, 1.0],   # premature: kept
                  [1.0, 1.5, 0.02, 1.0],   # compensatory pause (post / pre 1.5 >= 1.25): kept
                  [1.0, 1.0, 0.30, 1.0],   # irregular neighbourhood (atrial fibrillation): kept
                  [1.0, 1.0, 0.02, 1.6],   # wide: kept
                  [1.0, 1.0, 0.02, np.nan],  # width unknown: no evidence, kept
                  [1.0, 1.0, 0.02, 1.0]])  # on time and narrow but called N: untouched
    p_deep_v = np.full(7, 0.1)
    return p, p_deep_v, x


def test_the_v_gate_takes_only_on_time_narrow_unbacked_v_calls():
    from ecgsl_keras.modeling.stacking import VGate

    gate = VGate.from_spec(SPEC, LABELS)
    p, p_deep_v, x = _case()
    out, taken = gate.apply(p, p_deep_v, x)
    np.testing.assert_array_equal(taken, [1, 0, 0, 0, 0, 0, 0])
    assert out[0].argmax() == N and out[0, V] == 0.0
    np.testing.assert_allclose(out[0], np.array([0.3, 0.1, 0, 0.05, 0.05]) / 0.5)   # renormalised, next class wins
    np.testing.assert_array_equal(out[1:], p[1:])                                  # every other beat alone
    backed = p_deep_v.copy()
    backed[0] = 0.5                                                                # ECG-SL agrees (P(V) >= t)
    assert not gate.apply(p, backed, x)[1].any()
    # the optional tests: without pause / irregular the paused and the irregular beats lose V too
    loose = VGate.from_spec(dict(SPEC, pause=None, irregular=None), LABELS)
    np.testing.assert_array_equal(loose.apply(p, p_deep_v, x)[1], [1, 0, 1, 1, 0, 0, 0])
    # a row with nothing but V keeps its call: no other class to give it to
    only_v = np.array([[0.0, 0.0, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(gate.apply(only_v, [0.0], x[:1])[0], only_v)


def test_experiments_v_gate_uses_the_library_rule():
    """``experiments/mitdb/v_gate.py`` (run v40) measured the rule the preset serves: its functions are the
    library's."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "mitdb"))
    import v_gate

    from ecgsl_keras.modeling.stacking import V_GATE_COLUMNS, VGate

    assert tuple(v_gate.LOCAL_COLUMNS) == V_GATE_COLUMNS
    p, p_deep_v, x = _case()
    np.testing.assert_array_equal(v_gate.v_local_gate(p, p_deep_v, x, LABELS, **SPEC),
                                  VGate.from_spec(SPEC, LABELS).apply(p, p_deep_v, x)[0])


def _tiny(v_gate=None):
    return tiny_beat_stacked(LABELS, v_gate=v_gate)


def test_the_v_gate_round_trips_through_stacking_json(tmp_path):
    from ecgsl_keras.modeling.stacking import VGate

    # predict_proba applies it after the average, with the deep columns' P(V)
    p, _, x = _case()
    again = assert_rule_round_trips(tmp_path, LABELS, "v_gate", SPEC, p, x,
                                    lambda average: VGate.from_spec(SPEC, LABELS).apply(average, p[:, V], x)[0])
    assert isinstance(again.v_gate, VGate)


@pytest.mark.parametrize("entry, match", [
    ({k: v for k, v in SPEC.items() if k != "pause"}, "keys"),                  # incomplete
    (dict(SPEC, extra=1), "keys"),
    ([0.9, 1.3, 0.5], "keys"),
    (dict(SPEC, t="high"), "finite number"),
    (dict(SPEC, t=1.5), "at most 1"),
    (dict(SPEC, wide=float("nan")), "finite number"),
    (dict(SPEC, premature=-1.0), "at least 0"),
    (dict(SPEC, pause="none"), "finite number"),
])
def test_a_corrupt_v_gate_names_stacking_json(tmp_path, entry, match):
    assert_stacking_json_refused(tmp_path, _tiny(), match, v_gate=entry)


def test_a_v_gate_needs_per_beat_rows_and_a_v_class(tmp_path):
    from ecgsl_keras.modeling.stacking import StackedClassifier

    assert_stacking_json_refused(tmp_path, _tiny(), "per-beat rows", v_gate=SPEC, rows="record")
    with pytest.raises(ConfigError, match="class 'V'"):
        StackedClassifier(["a"], ["p_A", "p_B"], ["A", "B"], combine="average", rows="beat", v_gate=SPEC)


# --- the serving path on the repo fixture ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def preset_copy(tmp_path_factory):
    """A copy of mitdb-beats whose stacking.json the tests rewrite, and its spec without a V gate."""
    return preset_copy_without(tmp_path_factory.mktemp("vgate"), "v_gate")


def test_the_v_gate_in_the_serving_path_on_a_fixture_signal(preset_copy, fixtures_dir):
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.modeling.stacking import V_GATE_COLUMNS, VGate
    from ecgsl_keras.serving.inference import load_model

    folder, spec = preset_copy
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(120 * record.fs)]

    def run(v_gate):
        (folder / "stacking.json").write_text(json.dumps(dict(spec, v_gate=v_gate) if v_gate else spec))
        predictor = load_model(folder)
        beats = predictor.preprocess(signal, record.fs)
        return predictor, beats, predictor.predict_signal(signal, record.fs, beats=beats)

    predictor, beats, plain = run(None)        # no entry: the answer as before, no V gate keys
    assert "beat_v_gated" not in plain and "pre_v_gate_beat_probabilities" not in plain
    before = plain["beat_probabilities"]
    assert (before.argmax(1) == V).sum() > 10   # 208's first two minutes hold many V calls
    # a gate that takes every V call ECG-SL does not back fully (t = 1, on time from 0, any width, no pause test)
    loose = {"premature": 0.0, "wide": 1e9, "t": 1.0, "pause": None, "irregular": None}
    _, _, gated = run(loose)
    np.testing.assert_allclose(gated["pre_v_gate_beat_probabilities"], before, atol=1e-6)
    x = beat_feature_columns(own_beats(beats.beats, predictor.config.signal), beats.rr, beats.rpeaks / beats.fs,
                             list(V_GATE_COLUMNS), signal=signal, fs=record.fs, rpeaks_native=beats.rpeaks_native,
                             config=predictor.config.signal)
    expected, taken = VGate.from_spec(loose, predictor.label_names).apply(before, plain["deep_beat_probabilities"][
        :, V], x)
    np.testing.assert_array_equal(gated["beat_v_gated"], taken)
    assert taken.any()
    np.testing.assert_allclose(gated["beat_probabilities"], expected, atol=1e-5)
    changed = [i for i, (a, b) in enumerate(zip(plain["beat_labels"], gated["beat_labels"])) if a != b]
    assert changed and all(taken[i] and plain["beat_labels"][i] == "V" for i in changed)
    np.testing.assert_array_equal(gated["beat_probabilities"][~taken], plain["beat_probabilities"][~taken])
    # a gate that never acts (t = 0: no P(V) below it) answers exactly as without the entry
    _, _, never = run(dict(loose, t=0.0))
    assert not never["beat_v_gated"].any()
    np.testing.assert_array_equal(never["beat_probabilities"], before)
    assert never["beat_labels"] == plain["beat_labels"]


def test_own_beats_drops_the_reference_channel():
    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.data.signal import own_beats, with_reference

    beats = np.arange(3 * 96, dtype=np.float32).reshape(3, 96)
    one, two = SignalConfig(), SignalConfig(beat_reference="median")
    np.testing.assert_array_equal(own_beats(beats, one), beats)
    np.testing.assert_array_equal(own_beats(with_reference(beats, "median"), two), beats)
    with pytest.raises(ValueError, match="192"):
        own_beats(beats, two)


# --- AF-off (run v45): the V gate never acts where the rhythm gate's AF evidence exceeds a threshold -------------

AF_OFF = {"feature": "window_af_afev", "threshold": 30.0}


def test_af_off_keeps_a_v_call_the_gate_would_otherwise_take():
    from ecgsl_keras.modeling.stacking import V_GATE_COLUMNS, VGate

    p, p_deep_v, x = _case()
    plain = VGate.from_spec(SPEC, LABELS)
    assert plain.af_off is None and plain.columns == V_GATE_COLUMNS
    # off (no key, or null): the rule of four columns, outputs unchanged
    for off in (VGate.from_spec(dict(SPEC, af_off=None), LABELS), VGate(**{**SPEC, "label_names": LABELS})):
        for a, b in zip(off.apply(p, p_deep_v, x), plain.apply(p, p_deep_v, x)):
            np.testing.assert_array_equal(a, b)
    gate = VGate.from_spec(dict(SPEC, af_off=AF_OFF), LABELS)
    assert gate.columns == V_GATE_COLUMNS + ("window_af_afev",)
    for afev, taken in ((45.0, False), (30.0, True), (5.0, True), (np.nan, True)):   # above the threshold only
        x5 = np.concatenate([x, np.full((len(x), 1), afev)], axis=1)
        out, mask = gate.apply(p, p_deep_v, x5)
        assert bool(mask[0]) is taken
        np.testing.assert_array_equal(out[0], p[0] if not taken else plain.apply(p, p_deep_v, x)[0][0])
        np.testing.assert_array_equal(mask[1:], plain.apply(p, p_deep_v, x)[1][1:])
    with pytest.raises(ValueError, match=r"\(7, 5\)"):   # the AF-off feature's column is required
        gate.apply(p, p_deep_v, x)


def test_experiments_af_off_gate_uses_the_library_rule():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments" / "mitdb"))
    import v_gate

    from ecgsl_keras.modeling.stacking import VGate

    p, p_deep_v, x = _case()
    x5 = np.concatenate([x, [[45.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0.0]]], axis=1)
    gate = v_gate.af_off_gate({1.0: 30.0, 1.5: 20.0, 2.0: 10.0})
    point = dict(SPEC, af_cover=1.5)
    np.testing.assert_array_equal(gate.apply(p, p_deep_v, x5, LABELS, **point),
                                  VGate.from_spec(dict(SPEC, af_off={"feature": "window_af_afev", "threshold": 20.0}),
                                                  LABELS).apply(p, p_deep_v, x5)[0])
    assert v_gate.v_gate_spec(point, gate) == dict(SPEC, af_off={"feature": "window_af_afev", "threshold": 20.0})
    assert v_gate.v_gate_spec(SPEC, v_gate.LOCAL_GATE) == SPEC
    # the looser thresholds: c times as many beats above them as above tau
    e = np.r_[np.arange(100.0), np.nan]
    t = v_gate.af_off_thresholds(e, 89.5)
    assert t[1.0] == 89.5 and (e > t[1.5]).sum() == 15 and (e > t[2.0]).sum() == 20


def test_af_off_round_trips_through_stacking_json(tmp_path):
    from ecgsl_keras.modeling.stacking import SPEC_NAME, StackedClassifier

    spec = dict(SPEC, af_off=AF_OFF)
    _tiny(spec).save(tmp_path)
    assert json.loads((tmp_path / SPEC_NAME).read_text())["v_gate"] == spec
    again = StackedClassifier.load(tmp_path)
    assert again.v_gate.to_spec() == spec and again.v_gate.af_off == AF_OFF
    # an explicit null is off, and writes back as a gate without the key (what a spec before run v45 holds)
    _tiny(dict(SPEC, af_off=None)).save(tmp_path)
    assert json.loads((tmp_path / SPEC_NAME).read_text())["v_gate"] == SPEC


@pytest.mark.parametrize("af_off, match", [
    ([30.0], "af_off"),
    ({"feature": "window_af_afev"}, "af_off"),                               # no threshold
    (dict(AF_OFF, extra=1), "af_off"),
    (dict(AF_OFF, threshold="high"), "finite number"),
    (dict(AF_OFF, threshold=float("inf")), "finite number"),
    (dict(AF_OFF, feature=""), "feature name"),
    (dict(AF_OFF, feature=3), "feature name"),
])
def test_a_corrupt_af_off_names_stacking_json(tmp_path, af_off, match):
    assert_stacking_json_refused(tmp_path, _tiny(), match, v_gate=dict(SPEC, af_off=af_off))


def test_af_off_in_the_serving_path_on_a_fixture_signal(preset_copy, fixtures_dir):
    """The AF-off feature is computed with the booster's columns; where it exceeds the threshold no V call is
    taken; an AF-off feature the package does not compute names stacking.json."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.modeling.stacking import VGate
    from ecgsl_keras.serving.inference import load_model

    folder, spec = preset_copy
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(120 * record.fs)]
    loose = {"premature": 0.0, "wide": 1e9, "t": 1.0, "pause": None, "irregular": None}

    def run(v_gate):
        (folder / "stacking.json").write_text(json.dumps(dict(spec, v_gate=v_gate)))
        predictor = load_model(folder)
        beats = predictor.preprocess(signal, record.fs)
        return predictor, beats, predictor.predict_signal(signal, record.fs, beats=beats)

    predictor, beats, gated = run(loose)
    gate = VGate.from_spec(dict(loose, af_off=AF_OFF), predictor.label_names)
    x = beat_feature_columns(own_beats(beats.beats, predictor.config.signal), beats.rr, beats.rpeaks / beats.fs,
                             list(gate.columns), signal=signal, fs=record.fs, rpeaks_native=beats.rpeaks_native,
                             config=predictor.config.signal)
    afev = x[:, 4]
    # a threshold under some beats' AF evidence: those beats keep V, the others are gated as without AF-off
    threshold = float(np.nanmedian(afev))
    _, _, af = run(dict(loose, af_off=dict(AF_OFF, threshold=threshold)))
    expected, taken = VGate.from_spec(dict(loose, af_off=dict(AF_OFF, threshold=threshold)),
                                      predictor.label_names).apply(gated["pre_v_gate_beat_probabilities"],
                                                                   gated["deep_beat_probabilities"][:, V], x)
    np.testing.assert_array_equal(af["beat_v_gated"], taken)
    np.testing.assert_allclose(af["beat_probabilities"], expected, atol=1e-5)
    assert not (taken & (afev > threshold)).any()
    kept = gated["beat_v_gated"] & ~af["beat_v_gated"]   # V calls the gate takes without AF-off, kept with it
    assert kept.any() and all(af["beat_labels"][i] == "V" for i in np.flatnonzero(kept))
    np.testing.assert_array_equal(af["beat_v_gated"], gated["beat_v_gated"] & ~(afev > threshold))
    (folder / "stacking.json").write_text(json.dumps(dict(spec, v_gate=dict(loose, af_off=dict(AF_OFF,
                                                                                                feature="nope")))))
    with pytest.raises(ConfigError, match="af_off feature") as error:
        load_model(folder)
    assert error.value.path == str(folder / "stacking.json")


# --- run v55b's narrow gate as a mitdb-beats ship candidate (session s39: beats_preset.py --v-gate) ----------------

NARROW = {"premature": 0.8, "wide": 1.5, "t": 0.1, "pause": 1.1, "irregular": None}


def _mitdb_experiments():
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parents[1] / "experiments" / "mitdb"
    sys.path.insert(0, str(here))
    try:
        import beats_preset
    finally:
        sys.path.remove(str(here))
    return here, beats_preset


def test_mitdb_beats_ships_the_narrow_gate_only_where_its_recomputed_ship_test_passes():
    """``ship_check_results.json`` (``narrow_gate_ship.py``) holds run v55b's ship test recomputed from the committed
    files; the preset has a ``v_gate`` exactly when it passes, and the rules-only build it records changes no file
    but stacking.json (its ``v_gate`` entry alone), the metadata and the card."""
    from ecgsl_keras.modeling.stacking import StackedClassifier
    from ecgsl_keras.store import presets

    here, beats_preset = _mitdb_experiments()
    check = json.loads(beats_preset.SHIP_CHECK.read_text())[beats_preset.SHIP_CHECK_KEY]
    committed = json.loads((here / "v_sensitivity_results.json").read_text())[beats_preset.V_NARROW_SHIP_KEY]
    assert committed["v_gate"] == NARROW and check["build"]["v_gate"] == NARROW
    assert check["ship"] == check["narrow_gate_served"]["recomputed"]["ship"]
    presets.verify_preset("mitdb-beats")
    shipped = StackedClassifier.load(presets.preset_dir("mitdb-beats"))
    assert (shipped.v_gate is not None) == check["ship"]
    assert check["build"]["identical_but_stacking_metadata_card"]
    assert check["build"]["stacking_json_differences"] == [".v_gate"]
    assert all(d.startswith((".created", ".description", ".files.README.md", ".files.stacking.json",
                             ".stacking.v_gate")) for d in check["build"]["metadata_differences"])


def test_beats_preset_refuses_a_narrow_gate_the_ship_rule_did_not_take(tmp_path):
    """``beats_preset.narrow_gate_entry`` (``--v-gate``) names the file when the key is missing, its ship test failed,
    it was not measured on the served recipe's reproduced rows, or its recomputation (``SHIP_CHECK``) fails."""
    here, beats_preset = _mitdb_experiments()
    entry = json.loads((here / "v_sensitivity_results.json").read_text())[beats_preset.V_NARROW_SHIP_KEY]
    path, recheck = tmp_path / "v_sensitivity_results.json", tmp_path / "ship_check_results.json"
    path.write_text(json.dumps({beats_preset.V_NARROW_SHIP_KEY: entry}))
    assert beats_preset.narrow_gate_entry(path, recheck)["v_gate"] == NARROW   # no recomputation: the key decides
    for bad, match in (({}, "no 'v_narrow_gate_served_left_out'"), (dict(entry, ship=False), "ship is false"),
                       (dict(entry, reference_reproduced=False), "reproduced rows")):
        path.write_text(json.dumps({beats_preset.V_NARROW_SHIP_KEY: bad} if bad else {}))
        with pytest.raises(SystemExit, match=match) as error:
            beats_preset.narrow_gate_entry(path, recheck)
        assert str(path) in str(error.value)
    path.write_text(json.dumps({beats_preset.V_NARROW_SHIP_KEY: entry}))
    failed = {"ship": False, "narrow_gate_served": {"recomputed": {"checks": {"V_sensitivity_within_seed_sd": False,
                                                                              "S_sensitivity_within_seed_sd": True}}}}
    recheck.write_text(json.dumps({beats_preset.SHIP_CHECK_KEY: failed}))
    with pytest.raises(SystemExit, match="V_sensitivity_within_seed_sd") as error:
        beats_preset.narrow_gate_entry(path, recheck)
    assert str(recheck) in str(error.value)


def test_the_shipped_narrow_gate_in_the_serving_path_on_a_fixture_signal(fixtures_dir):
    """``load_model("mitdb-beats")`` (run v55b's entry, shipped in s39) on the fixture's record 208 (2 minutes, many V
    calls): the gate runs after the rhythm gate and before the pause rule and takes exactly the V calls ``VGate``
    takes on the probabilities before it (on time against the local rhythm, no pause, at most 1.5 x the median beat's
    QRS, ECG-SL P(V) under 0.1); the V calls ECG-SL backs are never taken."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.modeling.stacking import V_GATE_COLUMNS, VGate
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store import presets

    assert json.loads((presets.preset_dir("mitdb-beats") / "stacking.json").read_text())["v_gate"] == NARROW
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(120 * record.fs)]
    predictor = load_model("mitdb-beats")
    beats = predictor.preprocess(signal, record.fs)
    out = predictor.predict_signal(signal, record.fs, beats=beats)
    before, p_v = out["pre_v_gate_beat_probabilities"], out["deep_beat_probabilities"][:, V]
    assert (before.argmax(1) == V).sum() > 10
    x = beat_feature_columns(own_beats(beats.beats, predictor.config.signal), beats.rr, beats.rpeaks / beats.fs,
                             list(V_GATE_COLUMNS), signal=signal, fs=record.fs, rpeaks_native=beats.rpeaks_native,
                             config=predictor.config.signal)
    expected, taken = VGate.from_spec(NARROW, predictor.label_names).apply(before, p_v, x)
    np.testing.assert_array_equal(out["beat_v_gated"], taken)
    np.testing.assert_allclose(out["pre_v_pause_beat_probabilities"], expected, atol=1e-6)   # the pause rule's input
    assert np.all(before[taken].argmax(1) == V) and np.all(p_v[taken] < NARROW["t"]) and np.all(x[taken, 3] <= 1.5)
    backed = (before.argmax(1) == V) & (p_v >= NARROW["t"])
    assert backed.any() and not (taken & backed).any()


def test_the_card_of_a_narrow_gate_build():
    """``beats_preset.relative_card`` with the narrow key: the gate's paragraph (its entry, not blind, the DS2 check
    by shipping), its served left-out row first above the template vote's, and the distances of that row; with
    ``v_gate_build`` (run s33's key) the card has no narrow row (the shipped card, tests/test_v_pause_serving.py)."""
    from ecgsl_keras.store import presets

    here, beats_preset = _mitdb_experiments()
    results = json.loads((here / "beats_preset_results.json").read_text())
    measured = json.loads((here / "v_sensitivity_results.json").read_text())
    narrow = measured[beats_preset.V_NARROW_SHIP_KEY]
    stacking = json.loads((presets.preset_dir("mitdb-beats") / "stacking.json").read_text())
    args = (results, "@WINDOW@", stacking["deep_weight"], stacking["params"], len(stacking["feature_names"]), "@GATE@")
    card = beats_preset.relative_card(*args, narrow, results["v_pause_build"], measured["v_template_served_left_out"],
                                      beats_preset.V_NARROW_SHIP_KEY)
    lines = card.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(
        "| relative ECG-SL + booster, rhythm gate, narrow V gate (run v55b), pause rule, template vote: this recipe | "))
    assert f"{narrow['seed_spread']['V_positive_predictivity']['mean']:.3f} +- " in lines[row]
    assert lines[row + 1].startswith("| relative ECG-SL + booster, rhythm gate, pause rule, template vote (min_called "
                                     "40): without the narrow V gate | ")
    vpp = narrow["seed_spread"]["V_positive_predictivity"]["mean"] - 0.90
    assert f"V +P {vpp:+.3f}" in card and "Not blind" in card and "(DS2)" in card
    assert json.dumps(NARROW) in card and "the V agreement gate, the full-compensatory-pause rule" in card
    plain = beats_preset.relative_card(*args, results["v_gate_build"], results["v_pause_build"],
                                       measured["v_template_served_left_out"])
    assert "narrow V gate" not in plain and "No V agreement gate" in plain


def test_evaluate_serves_and_reports_the_shipped_narrow_gate(fixtures_dir):
    """``evaluate``'s stacked path on the fixture's record 208 serves the shipped ``v_gate`` and reports it: its
    entry, the V calls it took, only V calls moved to other classes, and the figures before it."""
    from ecgsl_keras.evaluation.stacked import evaluate_stacked_raw
    from ecgsl_keras.store import presets

    out, _, _ = evaluate_stacked_raw(presets.preset_dir("mitdb-beats"), "mitdb", fixtures_dir / "mitdb",
                                     records=["208"], progress=False)
    report = out["v_gate"]
    assert {k: report[k] for k in NARROW} == NARROW
    assert report["V_calls_taken"] >= 0 and set(report["ungated"]) >= {"accuracy", "macro_f1"}
    assert all(k.startswith("V_to_") for k in report["predictions_changed"])

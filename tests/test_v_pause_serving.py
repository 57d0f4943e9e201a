"""The full-compensatory-pause rule of a per-beat stacked model (``modeling.stacking.VPause``, ``stacking.json``'s
``v_pause``, runs v46-v49 of experiments/mitdb): the rule on constructed beats, its spec round trip, a corrupt entry
named by file, and the serving path on the repo fixture with and without the entry."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ecgsl_keras.errors import ConfigError
from helpers import assert_rule_round_trips, assert_stacking_json_refused, preset_copy_without, tiny_beat_stacked

LABELS = ["N", "S", "V", "F", "Q"]
N, S, V, F = 0, 1, 2, 3
AF_OFF = {"feature": "window_af_afev", "threshold": 30.0}
SPEC = {"wide": 1.25, "band": [0.95, 1.05], "pause": 1.25, "min_fires": 2, "af_off": AF_OFF}


def _case():
    """Eight beats called S (one called N), each failing one test of the rule but the first two."""
    p = np.tile([0.3, 0.5, 0.1, 0.05, 0.05], (9, 1))
    p[8] = [0.6, 0.2, 0.1, 0.05, 0.05]      # called N: never touched
    pre, post = 2 / 2.6, 2 * 1.6 / 2.6       # compensation (pre + post) / 2 = 1, post / pre = 1.6
    # columns: pre / neighbours' median, post / neighbours' median, QRS width / median beat's, AF evidence
    x = np.array([[pre, post, 1.6, 0.0],     # fires
                  [pre, post, 1.6, np.nan],  # fires (NaN AF evidence: no AF evidence)
                  [pre, post, 1.2, 0.0],     # narrow
                  [0.7, 1.0, 1.6, 0.0],      # compensation 0.85: less than compensatory (an atrial beat)
                  [0.9, 1.1, 1.6, 0.0],      # compensation 1.0 but post / pre 1.22 < 1.25: no pause
                  [pre, post, 1.6, 45.0],    # in AF
                  [pre, post, np.nan, 0.0],  # width unknown
                  [np.nan, post, 1.6, 0.0],  # RR unknown
                  [pre, post, 1.6, 0.0]])    # called N
    return p, x


def test_the_pause_rule_turns_firing_s_calls_to_v_on_a_record_with_enough_of_them():
    from ecgsl_keras.modeling.stacking import V_PAUSE_COLUMNS, VPause

    rule = VPause.from_spec(SPEC, LABELS)
    assert rule.columns == V_PAUSE_COLUMNS + ("window_af_afev",)
    p, x = _case()
    out, turned = rule.apply(p, x)
    np.testing.assert_array_equal(turned, [1, 1, 0, 0, 0, 0, 0, 0, 0])
    assert (out[:2].argmax(1) == V).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out[2:], p[2:])                                  # every other beat alone
    assert out[0, N] / out[0, F] == pytest.approx(p[0, N] / p[0, F])              # the rest keep their order
    # the record count: 2 firings; min_fires 3 leaves the record alone
    out3, turned3 = VPause.from_spec(dict(SPEC, min_fires=3), LABELS).apply(p, x)
    assert not turned3.any()
    np.testing.assert_array_equal(out3, p)
    # each record on its own: the two firings in two records, min_fires 2: neither record has enough
    assert not rule.apply(p, x, records=["a", "b"] + ["a"] * 7)[1].any()
    assert rule.apply(p, x, records=["a", "a"] + ["b"] * 7)[1][:2].all()
    # without af_off the AF beat fires too (three columns)
    no_af = VPause.from_spec({k: v for k, v in SPEC.items() if k != "af_off"}, LABELS)
    assert no_af.columns == V_PAUSE_COLUMNS
    np.testing.assert_array_equal(no_af.apply(p, x[:, :3])[1], [1, 1, 0, 0, 0, 1, 0, 0, 0])
    with pytest.raises(ValueError, match=r"\(9, 4\)"):
        rule.apply(p, x[:, :3])


def test_the_optional_t_wave_test_keeps_beats_with_a_normal_t_out():
    """Run v49's ``t_wave``: off by default (v48's rule, three / four columns); when set, ``t_energy_norm`` comes last
    and a beat fires only when it is above ``t_wave`` (NaN: no evidence, no firing); it round trips via the spec."""
    from ecgsl_keras.modeling.stacking import V_PAUSE_COLUMNS, V_PAUSE_T_COLUMN, VPause

    assert VPause.from_spec(SPEC, LABELS).t_wave is None and "t_wave" not in VPause.from_spec(SPEC, LABELS).to_spec()
    rule = VPause.from_spec(dict(SPEC, t_wave=1.5, min_fires=1), LABELS)
    assert rule.columns == V_PAUSE_COLUMNS + ("window_af_afev", V_PAUSE_T_COLUMN)
    assert rule.to_spec() == dict(SPEC, t_wave=1.5, min_fires=1)
    p, x = _case()
    t = np.array([[3.0], [0.5], [3.0], [3.0], [3.0], [3.0], [3.0], [3.0], [3.0]])   # beat 1: a normal T
    np.testing.assert_array_equal(rule.apply(p, np.hstack([x, t]))[1], [1, 0, 0, 0, 0, 0, 0, 0, 0])
    t[0] = np.nan
    assert not rule.apply(p, np.hstack([x, t]))[1].any()
    # without af_off the T column is the fourth
    no_af = VPause.from_spec({"wide": 1.25, "band": [0.95, 1.05], "pause": 1.25, "min_fires": 1, "t_wave": 1.5},
                             LABELS)
    assert no_af.columns == V_PAUSE_COLUMNS + (V_PAUSE_T_COLUMN,)
    t[0] = 2.0
    np.testing.assert_array_equal(no_af.apply(p, np.hstack([x[:, :3], t]))[1], [1, 0, 0, 0, 0, 1, 0, 0, 0])
    assert VPause.from_spec(dict(SPEC, t_wave=None), LABELS).to_spec() == SPEC       # null: off


def _tiny(v_pause=None):
    return tiny_beat_stacked(LABELS, v_pause=v_pause)


def test_the_pause_rule_round_trips_through_stacking_json(tmp_path):
    from ecgsl_keras.modeling.stacking import VPause

    p, x = _case()
    again = assert_rule_round_trips(tmp_path, LABELS, "v_pause", SPEC, p, x,
                                    lambda average: VPause.from_spec(SPEC, LABELS).apply(average, x)[0])
    assert isinstance(again.v_pause, VPause)


@pytest.mark.parametrize("entry, match", [
    ({k: v for k, v in SPEC.items() if k != "min_fires"}, "keys"),             # incomplete
    (dict(SPEC, extra=1), "keys"),
    ([1.25, 0.95, 1.05], "keys"),
    (dict(SPEC, wide="wide"), "finite number"),
    (dict(SPEC, band=[1.05, 0.95]), "low <= high"),
    (dict(SPEC, band=[0.95]), r"\[low, high\]"),
    (dict(SPEC, band=[0.95, float("nan")]), "finite number"),
    (dict(SPEC, pause=-1.0), "at least 0"),
    (dict(SPEC, min_fires=0), "min_fires"),
    (dict(SPEC, min_fires=2.5), "min_fires"),
    (dict(SPEC, min_fires=True), "min_fires"),
    (dict(SPEC, af_off={"feature": "window_af_afev"}), "af_off"),
    (dict(SPEC, t_wave="big"), "t_wave must be a finite number"),
    (dict(SPEC, t_wave=-1.0), "t_wave must be at least 0"),
    (dict(SPEC, t_wave=float("inf")), "t_wave must be a finite number"),
])
def test_a_corrupt_pause_rule_names_stacking_json(tmp_path, entry, match):
    assert_stacking_json_refused(tmp_path, _tiny(), match, v_pause=entry)


def test_a_pause_rule_needs_per_beat_rows_and_s_and_v_classes(tmp_path):
    from ecgsl_keras.modeling.stacking import StackedClassifier

    assert_stacking_json_refused(tmp_path, _tiny(), "per-beat rows", v_pause=SPEC, rows="record")
    with pytest.raises(ConfigError, match="classes"):
        StackedClassifier(["a"], ["p_N", "p_V"], ["N", "V"], combine="average", rows="beat", v_pause=SPEC)


# --- the serving path on the repo fixture ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def preset_copy(tmp_path_factory):
    """A copy of mitdb-beats whose stacking.json the tests rewrite, and its spec without a pause rule."""
    return preset_copy_without(tmp_path_factory.mktemp("vpause"), "v_pause")


def test_the_pause_rule_in_the_serving_path_on_a_fixture_signal(preset_copy, fixtures_dir):
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.modeling.stacking import VPause
    from ecgsl_keras.serving.inference import load_model

    folder, spec = preset_copy
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(120 * record.fs)]
    # the fixture's first two minutes hold no S call: a rhythm gate rewritten to move N to S on every beat makes
    # S calls for the rule to act on (the gate runs first, the pause rule last)
    spec = dict(spec, gate={"feature": "window_af_afev", "threshold": -1e9, "from": "N", "to": "S"})

    def run(v_pause):
        (folder / "stacking.json").write_text(json.dumps(dict(spec, v_pause=v_pause) if v_pause else spec))
        predictor = load_model(folder)
        beats = predictor.preprocess(signal, record.fs)
        return predictor, beats, predictor.predict_signal(signal, record.fs, beats=beats)

    predictor, beats, plain = run(None)        # no entry: the answer as before, no pause keys
    assert "beat_v_paused" not in plain and "pre_v_pause_beat_probabilities" not in plain
    before = plain["beat_probabilities"]
    assert (before.argmax(1) == S).sum() > 10
    # a loose rule: every non-AF S call fires (any width, any compensation, any post / pre), min_fires 1
    loose = {"wide": 0.0, "band": [0.0, 1e9], "pause": 0.0, "min_fires": 1, "af_off": dict(AF_OFF, threshold=1e9)}
    _, _, paused = run(loose)
    np.testing.assert_allclose(paused["pre_v_pause_beat_probabilities"], before, atol=1e-6)
    rule = VPause.from_spec(loose, predictor.label_names)
    x = beat_feature_columns(own_beats(beats.beats, predictor.config.signal), beats.rr, beats.rpeaks / beats.fs,
                             list(rule.columns), signal=signal, fs=record.fs, rpeaks_native=beats.rpeaks_native,
                             config=predictor.config.signal)
    expected, turned = rule.apply(before, x)
    np.testing.assert_array_equal(paused["beat_v_paused"], turned)
    assert turned.any() and all(plain["beat_labels"][i] == "S" for i in np.flatnonzero(turned))
    assert all(paused["beat_labels"][i] == "V" for i in np.flatnonzero(turned))
    np.testing.assert_allclose(paused["beat_probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(paused["beat_probabilities"][~turned], before[~turned])
    # run v49's T-wave test served: the rule's fourth / fifth column is t_energy_norm, computed by the serving path
    t_rule = VPause.from_spec(dict(loose, t_wave=1.0), predictor.label_names)
    xt = beat_feature_columns(own_beats(beats.beats, predictor.config.signal), beats.rr, beats.rpeaks / beats.fs,
                              list(t_rule.columns), signal=signal, fs=record.fs, rpeaks_native=beats.rpeaks_native,
                              config=predictor.config.signal)
    _, _, t_paused = run(dict(loose, t_wave=1.0))
    np.testing.assert_array_equal(t_paused["beat_v_paused"], t_rule.apply(before, xt)[1])
    assert t_paused["beat_v_paused"].sum() <= turned.sum()
    # the record count: more firings required than the record has: the answer as without the entry
    _, _, never = run(dict(loose, min_fires=int(turned.sum()) + 1))
    assert not never["beat_v_paused"].any()
    np.testing.assert_array_equal(never["beat_probabilities"], before)
    assert never["beat_labels"] == plain["beat_labels"]
    (folder / "stacking.json").write_text(json.dumps(dict(spec, v_pause=dict(loose, af_off=dict(AF_OFF,
                                                                                              feature="nope")))))
    with pytest.raises(ConfigError, match="v_pause af_off feature") as error:
        load_model(folder)
    assert error.value.path == str(folder / "stacking.json")


def test_mitdb_beats_ships_the_rule_its_build_chose():
    """The shipped preset's ``v_pause`` is key ``v_pause_build``'s choice (``beats_preset.py --v-pause``), and the
    preset's files still match its metadata."""
    from pathlib import Path

    from ecgsl_keras.modeling.stacking import StackedClassifier
    from ecgsl_keras.store import presets

    results = Path(__file__).resolve().parents[1] / "experiments" / "mitdb" / "beats_preset_results.json"
    build = json.loads(results.read_text())["v_pause_build"]
    presets.verify_preset("mitdb-beats")
    shipped = StackedClassifier.load(presets.preset_dir("mitdb-beats"))
    assert shipped.v_pause is not None and shipped.v_pause.to_spec() == build["v_pause"]
    assert shipped.v_pause.af_off["threshold"] == shipped.gate.threshold   # the rhythm gate's AF test


def test_mitdb_beats_card_states_the_served_left_out_figure():
    """The card's left-out table and pause paragraph are what ``beats_preset.relative_card`` renders from the
    committed JSON: below the narrow V gate's and the template vote's rows, the served pause rule's own left-out figure
    (key ``v_pause_served_left_out``, of this very entry)."""
    import sys
    from pathlib import Path

    from ecgsl_keras.store import presets

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "experiments" / "mitdb"))
    try:
        import beats_preset
    finally:
        sys.path.remove(str(root / "experiments" / "mitdb"))
    results = json.loads((root / "experiments" / "mitdb" / "beats_preset_results.json").read_text())
    measured = json.loads((root / "experiments" / "mitdb" / "v_sensitivity_results.json").read_text())
    served, voted = measured["v_pause_served_left_out"], measured["v_template_served_left_out"]
    folder = presets.preset_dir("mitdb-beats")
    stacking = json.loads((folder / "stacking.json").read_text())
    assert served["v_pause"] == stacking["v_pause"] and served["without_rule_reproduced"]
    assert voted["v_template"] == stacking["v_template"] and voted["ship"]   # session s35: the vote ships too
    narrow = measured[beats_preset.V_NARROW_SHIP_KEY]   # session s39: run v55b's narrow V gate ships too
    assert narrow["v_gate"] == stacking["v_gate"]
    card = beats_preset.relative_card(results, "@WINDOW@", stacking["deep_weight"], stacking["params"],
                                      len(stacking["feature_names"]), "@GATE@", narrow,
                                      results["v_pause_build"], voted, beats_preset.V_NARROW_SHIP_KEY)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for part in card.replace("@WINDOW@", "@GATE@").split("@GATE@"):
        assert part.rstrip("\n") in readme
    lines = readme.splitlines()
    first = ("| relative ECG-SL + booster, rhythm gate, pause rule, template vote (min_called 40): without the narrow V "
             "gate | ")
    row = next(i for i, line in enumerate(lines) if line.startswith(first))
    assert f"{voted['seed_spread']['V_sensitivity']['mean']:.3f} +- " in lines[row]
    assert lines[row + 1].startswith("| relative ECG-SL + booster, rhythm gate, pause rule (min_fires 40): without "
                                     "the template vote | ")
    assert f"{served['seed_spread']['V_sensitivity']['mean']:.3f} +- " in lines[row + 1]
    assert "The table below has no row with this rule" not in card

"""The within-record V template vote of a per-beat stacked model (``modeling.stacking.VTemplate``, ``stacking.json``'s
``v_template``, run v51 of experiments/mitdb): the vote on constructed beats, its spec round trip, a corrupt entry
named by file, off when absent, and the serving path on the repo fixture."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ecgsl_keras.errors import ConfigError

from helpers import assert_rule_round_trips, tiny_beat_stacked

LABELS = ["N", "S", "V", "F", "Q"]
N, S, V, F = 0, 1, 2, 3
AF_OFF = {"feature": "window_af_afev", "threshold": 30.0}
SPEC = {"min_called": 3, "corr": 0.9, "wide": 1.25, "calls": ["S", "F"], "af_off": AF_OFF}


def _shape(kind: str, rng) -> np.ndarray:
    """A 96-sample beat at 100 Hz, R at sample 32: a narrow normal beat or a wide inverted ventricular one."""
    t = np.arange(96)
    if kind == "normal":
        beat = np.exp(-0.5 * ((t - 32) / 1.5) ** 2) + 0.2 * np.exp(-0.5 * ((t - 60) / 6) ** 2)
    else:
        beat = -0.8 * np.exp(-0.5 * ((t - 34) / 5.0) ** 2) + 0.4 * np.exp(-0.5 * ((t - 62) / 8) ** 2)
    return beat + 0.01 * rng.normal(size=96)


def _case():
    """Twelve beats of one record: four called V (ventricular shape; one in AF), and eight others each failing one
    test of the vote but the first two."""
    rng = np.random.default_rng(0)
    kinds = ["v"] * 4 + ["v", "v", "v", "normal", "v", "v", "v", "v"]
    beats = np.stack([_shape(k, rng) for k in kinds])
    called = [V, V, V, V, S, F, N, S, S, S, S, F]
    p = np.full((12, 5), 0.1)
    p[np.arange(12), called] = 0.6
    # columns: correlation with the record's median beat, QRS width / the median beat's, AF evidence
    x = np.array([[0.1, 2.0, 0.0], [0.1, 2.0, 0.0], [0.1, 2.0, 0.0], [0.1, 2.0, 45.0],   # V calls, the last in AF
                  [0.1, 2.0, 0.0],      # S, wide, like the V template: fires
                  [0.1, 2.0, np.nan],   # F, wide, like the template, NaN AF evidence (no AF evidence): fires
                  [0.1, 2.0, 0.0],      # called N: not in the class set
                  [0.1, 2.0, 0.0],      # S, wide, but shaped like a normal beat: no
                  [0.1, 1.1, 0.0],      # S like the template but narrow
                  [0.1, 2.0, 45.0],     # S like the template but in AF
                  [1.0, 2.0, 0.0],      # S like the template but as like the record's median beat
                  [0.1, np.nan, 0.0]])  # F, width unknown
    return p, beats, x


def test_the_vote_turns_wide_s_and_f_calls_shaped_like_the_records_v_calls_to_v():
    from ecgsl_keras.modeling.stacking import V_TEMPLATE_COLUMNS, VTemplate

    rule = VTemplate.from_spec(SPEC, LABELS)
    assert rule.columns == V_TEMPLATE_COLUMNS + ("window_af_afev",)
    p, beats, x = _case()
    out, turned = rule.apply(p, beats, x)
    np.testing.assert_array_equal(np.flatnonzero(turned), [4, 5])
    assert (out[turned].argmax(1) == V).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out[~turned], p[~turned])                        # every other beat alone
    # the count: 3 V calls outside AF; min_called 4 leaves the record alone (the AF V call does not count)
    assert not VTemplate.from_spec(dict(SPEC, min_called=4), LABELS).apply(p, beats, x)[1].any()
    # each record with its own template and count: the V calls in another record, nothing fires
    assert not rule.apply(p, beats, x, records=["a"] * 4 + ["b"] * 8)[1].any()
    # the class set with N: the N call shaped like the template fires too
    with_n = VTemplate.from_spec(dict(SPEC, calls=["S", "F", "N"]), LABELS)
    np.testing.assert_array_equal(np.flatnonzero(with_n.apply(p, beats, x)[1]), [4, 5, 6])
    # without af_off: the AF V call counts (min_called 4 fires) and the AF S call fires (two columns)
    no_af = VTemplate.from_spec(dict({k: v for k, v in SPEC.items() if k != "af_off"}, min_called=4), LABELS)
    assert no_af.columns == V_TEMPLATE_COLUMNS and "af_off" not in no_af.to_spec()
    np.testing.assert_array_equal(np.flatnonzero(no_af.apply(p, beats, x[:, :2])[1]), [4, 5, 9])
    with pytest.raises(ValueError, match=r"\(12, 3\)"):
        rule.apply(p, beats, x[:, :2])


def _tiny(v_template=None):
    return tiny_beat_stacked(LABELS, v_template=v_template)


def test_the_vote_round_trips_through_stacking_json_and_is_off_when_absent(tmp_path):
    from ecgsl_keras.modeling.stacking import VTemplate

    p, beats, x = _case()
    again = assert_rule_round_trips(tmp_path, LABELS, "v_template", SPEC, p, x,
                                    lambda average: VTemplate.from_spec(SPEC, LABELS).apply(average, beats, x)[0],
                                    beats=beats)
    assert isinstance(again.v_template, VTemplate)


@pytest.mark.parametrize("entry, match", [
    ({k: v for k, v in SPEC.items() if k != "corr"}, "keys"),                  # incomplete
    (dict(SPEC, extra=1), "keys"),
    ([3, 0.9], "keys"),
    (dict(SPEC, min_called=0), "min_called"),
    (dict(SPEC, min_called=2.5), "min_called"),
    (dict(SPEC, corr=1.5), "at most 1"),
    (dict(SPEC, corr="high"), "finite number"),
    (dict(SPEC, wide=-1.0), "at least 0"),
    (dict(SPEC, calls=["S", "V"]), "calls"),
    (dict(SPEC, calls=["X"]), "calls"),
    (dict(SPEC, calls=[]), "calls"),
    (dict(SPEC, calls="S"), "calls"),
    (dict(SPEC, af_off={"feature": "window_af_afev"}), "af_off"),
])
def test_a_corrupt_vote_names_stacking_json(tmp_path, entry, match):
    from ecgsl_keras.modeling.stacking import SPEC_NAME, StackedClassifier

    _tiny().save(tmp_path)
    spec = json.loads((tmp_path / SPEC_NAME).read_text())
    (tmp_path / SPEC_NAME).write_text(json.dumps(dict(spec, v_template=entry)))
    with pytest.raises(ConfigError, match=match) as error:
        StackedClassifier.load(tmp_path)
    assert error.value.path == str(tmp_path / SPEC_NAME)
    (tmp_path / SPEC_NAME).write_text(json.dumps(dict(spec, v_template=SPEC, rows="record")))
    with pytest.raises(ConfigError, match="per-beat rows"):
        StackedClassifier.load(tmp_path)


# --- the serving path on the repo fixture ---------------------------------------------------------------------

def test_the_vote_in_the_serving_path_on_a_fixture_signal(tmp_path, fixtures_dir):
    """Served last, on the signal's own beats: a loose vote on the fixture's record 208 (frequent PVCs) turns beats
    exactly as ``VTemplate.apply`` does on the evidence the serving path computes (one model load)."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.modeling.stacking import StackedClassifier, VTemplate
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.serving.stacked import StackedPredictor
    from ecgsl_keras.store import presets

    folder = tmp_path / "mitdb-beats"
    shutil.copytree(presets.preset_dir("mitdb-beats"), folder)
    spec = json.loads((folder / "stacking.json").read_text())
    spec = {k: v for k, v in spec.items() if k not in ("v_pause", "v_template")}
    loose = {"min_called": 1, "corr": -1.0, "wide": 0.0, "calls": ["N", "S", "F"]}
    (folder / "stacking.json").write_text(json.dumps(dict(spec, v_template=loose)))
    predictor = load_model(folder)
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(60 * record.fs)]
    beats = predictor.preprocess(signal, record.fs)
    voted = predictor.predict_signal(signal, record.fs, beats=beats)
    before = voted["pre_v_template_beat_probabilities"]
    rule = VTemplate.from_spec(loose, predictor.label_names)
    own = own_beats(beats.beats, predictor.config.signal)
    x = beat_feature_columns(own, beats.rr, beats.rpeaks / beats.fs, list(rule.columns), signal=signal, fs=record.fs,
                             rpeaks_native=beats.rpeaks_native, config=predictor.config.signal)
    expected, turned = rule.apply(before, own, x)
    assert (before.argmax(1) == V).any() and turned.any()
    np.testing.assert_array_equal(voted["beat_v_templated"], turned)
    assert all(voted["beat_labels"][i] == "V" for i in np.flatnonzero(turned))
    np.testing.assert_allclose(voted["beat_probabilities"], expected, atol=1e-5)
    # an AF-off feature the package does not compute names stacking.json (no second model load)
    bad = StackedClassifier.load(folder)
    bad.v_template = VTemplate.from_spec(dict(loose, af_off={"feature": "nope", "threshold": 1.0}), LABELS)
    with pytest.raises(ConfigError, match="v_template af_off feature") as error:
        StackedPredictor(predictor.predictor, bad, source=str(folder))
    assert error.value.path == str(folder / "stacking.json")


# --- the shipped preset (session s35: beats_preset.py --v-template) ---------------------------------------------------

def test_mitdb_beats_ships_the_vote_its_ship_rule_took():
    """The shipped preset's ``v_template`` is key ``v_template_served_left_out``'s entry, shipped only because
    ``TEMPLATE_SHIP_RULE`` said so, its AF test the rhythm gate's; the preset's files still match its metadata."""
    from pathlib import Path

    from ecgsl_keras.modeling.stacking import StackedClassifier, VTemplate
    from ecgsl_keras.store import presets

    results = Path(__file__).resolve().parents[1] / "experiments" / "mitdb" / "v_sensitivity_results.json"
    served = json.loads(results.read_text())["v_template_served_left_out"]
    presets.verify_preset("mitdb-beats")
    shipped = StackedClassifier.load(presets.preset_dir("mitdb-beats"))
    assert served["ship"] and served["reference_reproduced"]
    assert isinstance(shipped.v_template, VTemplate) and shipped.v_template.to_spec() == served["v_template"]
    assert shipped.v_template.af_off["threshold"] == shipped.gate.threshold   # the rhythm gate's AF test
    assert shipped.v_pause is not None   # served after the pause rule, as measured


def test_evaluate_serves_and_reports_the_shipped_vote(fixtures_dir):
    """``evaluate``'s stacked path (``evaluate_stacked_raw``) on the fixture's record 208 (frequent PVCs, 5 minutes)
    serves the shipped preset's vote and reports it: its entry, the beats it turned and the figures before it."""
    from ecgsl_keras.evaluation.stacked import evaluate_stacked_raw
    from ecgsl_keras.store import presets

    folder = presets.preset_dir("mitdb-beats")
    out, _, _ = evaluate_stacked_raw(folder, "mitdb", fixtures_dir / "mitdb", records=["208"], progress=False)
    spec = json.loads((folder / "stacking.json").read_text())["v_template"]
    assert out["records"] == 1 and "v_template" in out and "v_pause" in out
    report = out["v_template"]
    assert {k: report[k] for k in spec} == spec
    assert report["beats_turned_V"] >= 0 and set(report["ungated"]) >= {"accuracy", "macro_f1"}
    assert all(k.endswith("_to_V") for k in report["predictions_changed"])

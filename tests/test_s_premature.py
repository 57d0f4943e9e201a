"""The premature-beat S rescue of a per-beat stacked model (``modeling.stacking.SPremature``, ``stacking.json``'s
``s_premature``, run v57 of experiments/mitdb): it fires on constructed beats, round-trips through stacking.json, a bad
entry is refused naming stacking.json, a spec without it serves as before, and the serving path on the repo fixture
applies it as ``SPremature.apply`` does."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from helpers import assert_rule_round_trips, assert_stacking_json_refused, tiny_beat_stacked

LABELS = ["N", "S", "V", "F", "Q"]
N, S, V, F = 0, 1, 2, 3
AF_OFF = {"feature": "window_af_afev", "threshold": 30.0}
SPEC = {"calls": ["N", "F"], "p_s": 0.2, "premature": 0.9, "af_off": AF_OFF}


def _case():
    """Nine beats, each failing one test of the rescue but the first two."""
    called = [N, F, N, N, N, V, S, N, N]
    p_s = [0.3, 0.25, 0.1, 0.3, 0.3, 0.3, 0.5, 0.3, 0.3]
    p = np.full((9, 5), 0.05)
    p[:, S] = p_s
    p[np.arange(9), called] = 0.55
    p /= p.sum(axis=1, keepdims=True)   # rows of probabilities (P(S) of the first two stays >= 0.2)
    # columns: pre RR / the record's average RR, AF evidence
    x = np.array([[0.7, 0.0],        # N, P(S) 0.3, premature: fires
                  [0.6, np.nan],     # F, premature, NaN AF evidence (no AF evidence): fires
                  [0.7, 0.0],        # P(S) below p_s
                  [0.95, 0.0],       # not premature
                  [0.7, 45.0],       # in AF
                  [0.7, 0.0],        # called V: not in calls
                  [0.7, 0.0],        # already S
                  [np.nan, 0.0],     # pre RR unknown
                  [0.9, 0.0]])       # at the threshold: not below it
    return p, x


def test_the_rescue_turns_premature_n_and_f_calls_with_some_s_probability_to_s():
    from ecgsl_keras.modeling.stacking import S_PREMATURE_COLUMNS, SPremature

    rule = SPremature.from_spec(SPEC, LABELS)
    assert rule.columns == S_PREMATURE_COLUMNS + ("window_af_afev",)
    p, x = _case()
    out, turned = rule.apply(p, x)
    np.testing.assert_array_equal(np.flatnonzero(turned), [0, 1])
    assert (out[turned].argmax(1) == S).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out[~turned], p[~turned])                        # every other beat alone
    # calls N only: the F call stays; without af_off the AF beat fires too (one column)
    assert np.flatnonzero(SPremature.from_spec(dict(SPEC, calls=["N"]), LABELS).apply(p, x)[1]).tolist() == [0]
    no_af = SPremature.from_spec({k: v for k, v in SPEC.items() if k != "af_off"}, LABELS)
    assert no_af.columns == S_PREMATURE_COLUMNS and "af_off" not in no_af.to_spec()
    np.testing.assert_array_equal(np.flatnonzero(no_af.apply(p, x[:, :1])[1]), [0, 1, 4])
    with pytest.raises(ValueError, match=r"\(9, 2\)"):
        rule.apply(p, x[:, :1])


def test_the_rescue_round_trips_through_stacking_json_and_is_off_when_absent(tmp_path):
    from ecgsl_keras.modeling.stacking import SPremature

    p, x = _case()
    again = assert_rule_round_trips(tmp_path, LABELS, "s_premature", SPEC, p, x,
                                    lambda average: SPremature.from_spec(SPEC, LABELS).apply(average, x)[0])
    assert isinstance(again.s_premature, SPremature)


@pytest.mark.parametrize("entry, match", [
    ({k: v for k, v in SPEC.items() if k != "p_s"}, "keys"),                   # incomplete
    (dict(SPEC, extra=1), "keys"),
    ([0.2, 0.9], "keys"),
    (dict(SPEC, p_s=1.5), "at most 1"),
    (dict(SPEC, p_s="high"), "finite number"),
    (dict(SPEC, premature=-0.1), "at least 0"),
    (dict(SPEC, calls=["S"]), "calls"),
    (dict(SPEC, calls=["X"]), "calls"),
    (dict(SPEC, calls=[]), "calls"),
    (dict(SPEC, calls="N"), "calls"),
    (dict(SPEC, af_off={"feature": "window_af_afev"}), "af_off"),
])
def test_a_corrupt_rescue_names_stacking_json(tmp_path, entry, match):
    assert_stacking_json_refused(tmp_path, tiny_beat_stacked(LABELS), match, s_premature=entry)


def test_a_rescue_on_record_rows_names_stacking_json(tmp_path):
    assert_stacking_json_refused(tmp_path, tiny_beat_stacked(LABELS), "per-beat rows", s_premature=SPEC, rows="record")


def test_the_rescue_in_the_serving_path_on_a_fixture_signal(tmp_path, fixtures_dir):
    """Served last, on the serving path's own evidence: a loose rescue on the fixture's record 208 turns beats exactly
    as ``SPremature.apply`` does on the columns the serving path computes (one model load)."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.modeling.stacking import SPremature
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store import presets

    folder = tmp_path / "mitdb-beats"
    shutil.copytree(presets.preset_dir("mitdb-beats"), folder)
    spec = json.loads((folder / "stacking.json").read_text())
    loose = {"calls": ["N", "V", "F"], "p_s": 0.0, "premature": 0.95}
    (folder / "stacking.json").write_text(json.dumps(dict(spec, s_premature=loose)))
    predictor = load_model(folder)
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(60 * record.fs)]
    beats = predictor.preprocess(signal, record.fs)
    served = predictor.predict_signal(signal, record.fs, beats=beats)
    before = served["pre_s_premature_beat_probabilities"]
    rule = SPremature.from_spec(loose, predictor.label_names)
    x = beat_feature_columns(own_beats(beats.beats, predictor.config.signal), beats.rr, beats.rpeaks / beats.fs,
                             list(rule.columns), signal=signal, fs=record.fs, rpeaks_native=beats.rpeaks_native,
                             config=predictor.config.signal)
    expected, turned = rule.apply(before, x)
    assert turned.any()
    np.testing.assert_array_equal(served["beat_s_rescued"], turned)
    assert all(served["beat_labels"][i] == "S" for i in np.flatnonzero(turned))
    np.testing.assert_allclose(served["beat_probabilities"], expected, atol=1e-5)

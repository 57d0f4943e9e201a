"""The record-level timing test of V calls (``modeling.stacking.VTiming``, ``stacking.json``'s ``v_timing``, run v64 of
experiments/mitdb) and the fusion rule (``VFusion``, ``v_fusion``, run v65, with v66's optional P-wave test): each fires on a constructed record and
not where a test fails, round-trips through stacking.json, a bad entry is refused naming stacking.json, a spec without
it serves as before, and the serving path on the repo fixture applies it as its own ``apply`` does."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from helpers import assert_rule_round_trips, assert_stacking_json_refused, tiny_beat_stacked

LABELS = ["N", "S", "V", "F", "Q"]
N, S, V, F = 0, 1, 2, 3
AF_OFF = {"feature": "window_af_afev", "threshold": 30.0}
TIMING = {"min_called": 4, "share": 0.6, "premature": 0.9, "pause": 1.1, "af_off": AF_OFF}
FUSION = {"min_called": 4, "corr": 0.9, "median_corr": 0.3, "width": 0.85, "to": "F", "af_off": AF_OFF}


def _timing_case():
    """Eight beats of one record: six V calls outside AF (four on time, one premature, one with a pause), a V call in
    AF and an N call on time. 4 of 6 V calls on time: the record passes share 0.6."""
    called = [V, V, V, V, V, V, V, N]
    p = np.full((8, 5), 0.1)
    p[:, S] = 0.2                                   # the next class after V: S
    p[np.arange(8), called] = 0.5
    # columns: pre RR / local median, post RR / local median, AF evidence
    x = np.array([[1.0, 1.0, 0.0],       # on time: fires
                  [0.95, 1.02, 0.0],     # on time: fires
                  [1.05, 1.0, np.nan],   # on time, NaN AF evidence (no AF evidence): fires
                  [0.92, 0.95, 0.0],     # on time: fires
                  [0.6, 1.4, 0.0],       # premature: kept
                  [0.95, 1.3, 0.0],      # a compensatory pause (post / pre 1.37): kept
                  [1.0, 1.0, 45.0],      # in AF: neither counted nor taken
                  [1.0, 1.0, 0.0]])      # called N
    return p, x


def test_timing_takes_the_on_time_v_calls_of_a_record_whose_v_calls_are_mostly_on_time():
    from ecgsl_keras.modeling.stacking import V_TIMING_COLUMNS, VTiming

    rule = VTiming.from_spec(TIMING, LABELS)
    assert rule.columns == V_TIMING_COLUMNS + ("window_af_afev",)
    p, x = _timing_case()
    out, taken = rule.apply(p, x)
    np.testing.assert_array_equal(np.flatnonzero(taken), [0, 1, 2, 3])
    assert (out[taken].argmax(1) == S).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out[~taken], p[~taken])
    # the share: 4 of 6 on time is below 0.7; the count: 6 calls is below 7
    assert not VTiming.from_spec(dict(TIMING, share=0.7), LABELS).apply(p, x)[1].any()
    assert not VTiming.from_spec(dict(TIMING, min_called=7), LABELS).apply(p, x)[1].any()
    # each record alone: under min_called
    assert not rule.apply(p, x, records=np.arange(8))[1].any()
    # without af_off the AF call counts (5 of 7 on time) and goes too
    no_af = VTiming.from_spec({k: v for k, v in TIMING.items() if k != "af_off"}, LABELS)
    assert no_af.columns == V_TIMING_COLUMNS and "af_off" not in no_af.to_spec()
    np.testing.assert_array_equal(np.flatnonzero(no_af.apply(p, x[:, :2])[1]), [0, 1, 2, 3, 6])
    with pytest.raises(ValueError, match=r"\(8, 3\)"):
        rule.apply(p, x[:, :2])


def test_timing_round_trips_through_stacking_json_and_is_off_when_absent(tmp_path):
    from ecgsl_keras.modeling.stacking import VTiming

    p, x = _timing_case()
    again = assert_rule_round_trips(tmp_path, LABELS, "v_timing", TIMING, p, x,
                                    lambda average: VTiming.from_spec(TIMING, LABELS).apply(average, x)[0])
    assert isinstance(again.v_timing, VTiming)


def _beat(kind, rng):
    t = np.arange(96)
    normal = np.exp(-0.5 * ((t - 32) / 1.5) ** 2) + 0.2 * np.exp(-0.5 * ((t - 60) / 6) ** 2)
    ventricular = -0.8 * np.exp(-0.5 * ((t - 34) / 5.0) ** 2) + 0.4 * np.exp(-0.5 * ((t - 62) / 8) ** 2)
    b = {"normal": normal, "v": ventricular, "fusion": 0.5 * normal + 0.5 * ventricular}[kind]
    return b + 0.01 * rng.normal(size=96)


def _fusion_case():
    """Nine beats of one record, all called V: five ventricular (the template, width 2.2), a fusion-shaped one of
    width 1.4 like the median beat (fires), a fusion-shaped one as wide as the V calls (kept: width), one unlike the
    median beat (kept: median_corr) and one in AF (kept: AF)."""
    rng = np.random.default_rng(0)
    beats = np.stack([_beat(k, rng) for k in ["v"] * 5 + ["fusion"] * 4])
    p = np.full((9, 5), 0.1)
    p[:, V] = 0.5
    p[:, N] = 0.2                                   # the next class: N
    x = np.tile([-0.2, 2.2, 0.0], (9, 1))           # median_corr, qrs_width_norm, AF evidence
    x[5] = [0.6, 1.4, 0.0]                          # a fusion beat: fires
    x[6] = [0.6, 2.2, 0.0]                          # as wide as the V form
    x[7] = [0.1, 1.4, 0.0]                          # unlike the record's median beat
    x[8] = [0.6, 1.4, 50.0]                         # in AF
    return p, beats, x


def test_fusion_turns_a_v_call_between_the_median_beat_and_the_v_template_to_f():
    from ecgsl_keras.modeling.stacking import V_TEMPLATE_COLUMNS, VFusion

    p, beats, x = _fusion_case()
    rule = VFusion.from_spec(FUSION, LABELS)
    assert rule.columns == V_TEMPLATE_COLUMNS + ("window_af_afev",)
    out, fired = rule.apply(p, beats, x)
    assert fired.tolist() == [False] * 5 + [True, False, False, False]
    assert out[5].argmax() == F and np.isclose(out[5].sum(), 1.0)
    np.testing.assert_array_equal(out[~fired], p[~fired])
    dropped = VFusion.from_spec(dict(FUSION, to=None), LABELS).apply(p, beats, x)[0]   # to null: the next class
    assert dropped[5].argmax() == N
    assert not rule.apply(p, beats, x, records=np.arange(9))[1].any()                 # under min_called
    assert not VFusion.from_spec(dict(FUSION, corr=0.0), LABELS).apply(p, beats, x)[1].any()


def _p_wave_case():
    """Seventeen beats of one record: nine normal beats with a sinus P wave (called N: the median beat has the P
    wave), five ventricular V calls (no P wave), two fusion-shaped V calls led by the sinus P wave and one without."""
    rng = np.random.default_rng(1)
    t = np.arange(96)
    p_wave = 0.15 * np.exp(-0.5 * ((t - 16) / 2.5) ** 2)   # 160 ms before R, inside P_REGION
    kinds = ["normal"] * 9 + ["v"] * 5 + ["fusion"] * 3
    beats = np.stack([_beat(k, rng) for k in kinds])
    beats[:9] += p_wave
    beats[14:16] += p_wave
    p = np.full((17, 5), 0.1)
    p[:9, N] = 0.5
    p[9:, V] = 0.5
    p[9:, N] = 0.2
    x = np.tile([1.0, 1.0, 0.0], (17, 1))            # median_corr, qrs_width_norm, AF evidence
    x[9:14] = [-0.2, 2.2, 0.0]
    x[14:] = [0.6, 1.4, 0.0]
    return p, beats, x


def test_fusion_p_wave_test_keeps_a_v_call_without_the_sinus_p_wave():
    from ecgsl_keras.data.per_beat_features import centred_beats, p_wave_corr
    from ecgsl_keras.modeling.stacking import VFusion

    p, beats, x = _p_wave_case()
    corr = p_wave_corr(centred_beats(beats))
    # the wide QRS onset of the ventricular forms reaches the end of the P window: well below the P-led beats
    assert (corr[:9] > 0.9).all() and (corr[14:16] > 0.9).all() and corr[16] < 0.7 and (corr[9:14] < 0.7).all()
    without = VFusion.from_spec(FUSION, LABELS).apply(p, beats, x)[1]
    assert np.flatnonzero(without).tolist() == [14, 15, 16]
    spec = dict(FUSION, p_wave=0.8)
    rule = VFusion.from_spec(spec, LABELS)
    assert rule.to_spec() == spec and "p_wave" not in VFusion.from_spec(FUSION, LABELS).to_spec()
    out, fired = rule.apply(p, beats, x)
    assert np.flatnonzero(fired).tolist() == [14, 15]
    assert (out[fired].argmax(1) == F).all()
    assert VFusion.from_spec(dict(FUSION, p_wave=None), LABELS).p_wave is None


def test_fusion_round_trips_through_stacking_json_and_is_off_when_absent(tmp_path):
    from ecgsl_keras.modeling.stacking import VFusion

    p, beats, x = _fusion_case()
    again = assert_rule_round_trips(tmp_path, LABELS, "v_fusion", FUSION, p, x,
                                    lambda average: VFusion.from_spec(FUSION, LABELS).apply(average, beats, x)[0],
                                    beats=beats)
    assert isinstance(again.v_fusion, VFusion)


@pytest.mark.parametrize("key, entry, match", [
    ("v_timing", {k: v for k, v in TIMING.items() if k != "share"}, "keys"),
    ("v_timing", dict(TIMING, extra=1), "keys"),
    ("v_timing", [4, 0.6], "keys"),
    ("v_timing", dict(TIMING, share=0.0), r"\(0, 1\]"),
    ("v_timing", dict(TIMING, share=1.5), r"\(0, 1\]"),
    ("v_timing", dict(TIMING, min_called=0), "min_called"),
    ("v_timing", dict(TIMING, premature="x"), "finite number"),
    ("v_timing", dict(TIMING, af_off={"feature": "window_af_afev"}), "af_off"),
    ("v_fusion", {k: v for k, v in FUSION.items() if k != "to"}, "keys"),
    ("v_fusion", dict(FUSION, corr=1.5), "at most 1"),
    ("v_fusion", dict(FUSION, median_corr=-2.0), "at least -1"),
    ("v_fusion", dict(FUSION, width=1.2), r"\(0, 1\]"),
    ("v_fusion", dict(FUSION, to="V"), "to must be"),
    ("v_fusion", dict(FUSION, to="X"), "to must be"),
    ("v_fusion", dict(FUSION, min_called=True), "min_called"),
    ("v_fusion", dict(FUSION, p_wave=1.5), "at most 1"),
    ("v_fusion", dict(FUSION, p_wave="x"), "finite number"),
])
def test_a_bad_entry_names_stacking_json(tmp_path, key, entry, match):
    assert_stacking_json_refused(tmp_path, tiny_beat_stacked(LABELS), match, **{key: entry})


@pytest.mark.parametrize("key, spec", [("v_timing", TIMING), ("v_fusion", FUSION)])
def test_a_rule_on_record_rows_names_stacking_json(tmp_path, key, spec):
    assert_stacking_json_refused(tmp_path, tiny_beat_stacked(LABELS), "per-beat rows", rows="record", **{key: spec})


def test_both_rules_in_the_serving_path_on_a_fixture_signal(tmp_path, fixtures_dir):
    """Served in their place, on the serving path's own evidence: loose entries on the fixture's record 208 change
    beats exactly as ``VTiming.apply`` then ``VFusion.apply`` do on the columns the serving path computes."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.modeling.stacking import VFusion, VTiming
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store import presets

    folder = tmp_path / "mitdb-beats"
    shutil.copytree(presets.preset_dir("mitdb-beats"), folder)
    spec = json.loads((folder / "stacking.json").read_text())
    timing = {"min_called": 1, "share": 0.01, "premature": 1.0, "pause": 100.0}   # the late V calls only
    fusion = {"min_called": 1, "corr": 1.0, "median_corr": -1.0, "width": 1.0, "to": "F"}
    (folder / "stacking.json").write_text(json.dumps(dict(spec, v_timing=timing, v_fusion=fusion)))
    predictor = load_model(folder)
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(60 * record.fs)]
    beats = predictor.preprocess(signal, record.fs)
    served = predictor.predict_signal(signal, record.fs, beats=beats)
    own = own_beats(beats.beats, predictor.config.signal)

    def columns(rule):
        return beat_feature_columns(own, beats.rr, beats.rpeaks / beats.fs, list(rule.columns), signal=signal,
                                    fs=record.fs, rpeaks_native=beats.rpeaks_native, config=predictor.config.signal)
    t_rule, f_rule = VTiming.from_spec(timing, predictor.label_names), VFusion.from_spec(fusion, predictor.label_names)
    before = served["pre_v_timing_beat_probabilities"]
    after_timing, taken = t_rule.apply(before, columns(t_rule))
    assert taken.any() and (before.argmax(1) == predictor.label_names.index("V")).sum() > taken.sum()
    np.testing.assert_array_equal(served["beat_v_on_time"], taken)
    np.testing.assert_allclose(served["pre_v_fusion_beat_probabilities"], after_timing, atol=1e-5)
    expected, fused = f_rule.apply(served["pre_v_fusion_beat_probabilities"], own, columns(f_rule))
    assert fused.any()
    np.testing.assert_array_equal(served["beat_v_fused"], fused)
    assert all(served["beat_labels"][i] == "F" for i in np.flatnonzero(fused))
    np.testing.assert_allclose(served["beat_probabilities"], expected, atol=1e-5)

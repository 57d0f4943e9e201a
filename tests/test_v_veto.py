"""The within-record V template veto of a per-beat stacked model (``modeling.stacking.VVeto``, ``stacking.json``'s
``v_veto``, run v53 of experiments/mitdb): it fires on a constructed record, a bad entry is refused naming
stacking.json, and a spec without it serves as before."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ecgsl_keras.errors import ConfigError

from helpers import tiny_beat_stacked

LABELS = ["N", "S", "V", "F", "Q"]
N, S, V = 0, 1, 2
SPEC = {"min_called": 3, "corr": 0.7, "median": True, "af_off": {"feature": "window_af_afev", "threshold": 30.0}}


def _beat(kind, rng):
    t = np.arange(96)
    if kind == "normal":
        b = np.exp(-0.5 * ((t - 32) / 1.5) ** 2) + 0.2 * np.exp(-0.5 * ((t - 60) / 6) ** 2)
    else:
        b = -0.8 * np.exp(-0.5 * ((t - 34) / 5.0) ** 2) + 0.4 * np.exp(-0.5 * ((t - 62) / 8) ** 2)
    return b + 0.01 * rng.normal(size=96)


def _case():
    """Eight beats of one record, all called V: five ventricular (the template), a normal-shaped one (vetoed), a
    normal-shaped one in AF (kept: AF) and one with NaN median correlation (kept: NaN never fires)."""
    rng = np.random.default_rng(0)
    beats = np.stack([_beat(k, rng) for k in ["v"] * 5 + ["normal"] * 3])
    p = np.full((8, 5), 0.1)
    p[:, V] = 0.5
    p[:, S] = 0.2                                   # the next class: S
    x = np.tile([0.3, 1.6, 0.0], (8, 1))            # median_corr, qrs_width_norm, AF evidence
    x[5:, 0] = 0.95                                 # the normal-shaped beats are like the record's median beat
    x[6, 2] = 50.0                                  # in AF
    x[7, 0] = np.nan
    return p, beats, x


def test_the_veto_takes_v_from_a_beat_unlike_the_record_template():
    from ecgsl_keras.modeling.stacking import VVeto

    p, beats, x = _case()
    veto = VVeto.from_spec(SPEC, LABELS)
    out, fired = veto.apply(p, beats, x)
    assert fired.tolist() == [False] * 5 + [True, False, False]
    assert out[5].argmax() == S and np.isclose(out[5].sum(), 1.0)
    np.testing.assert_array_equal(out[~fired], p[~fired])
    assert not veto.apply(p, beats, x, records=np.arange(8))[1].any()   # each record alone: under min_called
    loose = VVeto.from_spec(dict(SPEC, median=False), LABELS)           # without the median test the NaN beat goes
    assert loose.apply(p, beats, x)[1].tolist() == [False] * 5 + [True, False, True]


@pytest.mark.parametrize("entry, match", [
    ({"min_called": 3, "corr": 0.7}, "keys"),
    (dict(SPEC, extra=1), "keys"),
    (dict(SPEC, median=1), "median"),
    (dict(SPEC, corr=2.0), "at most 1"),
    (dict(SPEC, min_called=0), "min_called"),
])
def test_a_bad_veto_names_stacking_json_and_none_serves_as_before(tmp_path, entry, match):
    from ecgsl_keras.modeling.stacking import SPEC_NAME, StackedClassifier

    tiny_beat_stacked(LABELS).save(tmp_path)
    spec = json.loads((tmp_path / SPEC_NAME).read_text())
    assert "v_veto" not in spec
    plain = StackedClassifier.load(tmp_path)
    assert plain.v_veto is None
    X = np.concatenate([np.ones((8, 2)), _case()[0]], axis=1)
    np.testing.assert_array_equal(plain.predict_proba(X), plain.predict_proba(X, apply_gate=False))
    (tmp_path / SPEC_NAME).write_text(json.dumps(dict(spec, v_veto=entry)))
    with pytest.raises(ConfigError, match=match) as error:
        StackedClassifier.load(tmp_path)
    assert error.value.path == str(tmp_path / SPEC_NAME)


def _form(kind, rng):
    t = np.arange(96)
    if kind == "b":   # a second ventricular form: upright and broad, inverted T
        b = 0.9 * np.exp(-0.5 * ((t - 30) / 4.0) ** 2) - 0.4 * np.exp(-0.5 * ((t - 66) / 8) ** 2)
        return b + 0.01 * rng.normal(size=96)
    return _beat(kind, rng)


def _multiform_case():
    """Fourteen beats of one record, all called V: six of one ventricular form, six of another (multiform PVCs) and
    two normal-shaped ones, like the record's median beat."""
    rng = np.random.default_rng(1)
    beats = np.stack([_form(k, rng) for k in ["v"] * 6 + ["b"] * 6 + ["normal"] * 2])
    p = np.full((14, 5), 0.1)
    p[:, V] = 0.5
    p[:, S] = 0.2
    x = np.tile([0.0, 1.6, 0.0], (14, 1))           # median_corr, qrs_width_norm, AF evidence
    x[12:, 0] = 0.95
    return p, beats, x


def test_several_templates_keep_each_repeated_v_form_and_veto_the_odd_call():
    from ecgsl_keras.modeling.stacking import VVeto, v_call_templates

    from ecgsl_keras.data.per_beat_features import centred_beats

    p, beats, x = _multiform_case()
    spec = dict(SPEC, min_called=10, median=False, clusters={"corr": 0.9, "min_members": 3})
    templates = v_call_templates(centred_beats(beats), 0.9, 3)
    assert len(templates) == 2                                         # the two forms; the two normal beats: no group
    veto = VVeto.from_spec(spec, LABELS)
    assert veto.to_spec() == spec and VVeto.from_spec(veto.to_spec(), LABELS).clusters == spec["clusters"]
    out, fired = veto.apply(p, beats, x)
    assert fired.tolist() == [False] * 12 + [True, True]
    assert (out[12:].argmax(-1) == S).all()
    single = VVeto.from_spec({k: v for k, v in spec.items() if k != "clusters"}, LABELS)
    assert single.apply(p, beats, x)[1][:12].any()                     # one median template takes true V forms too
    alone = VVeto.from_spec(dict(spec, clusters={"corr": 0.9, "min_members": 7}), LABELS)
    assert not alone.apply(p, beats, x)[1].any()                       # no group of 7: no template, no veto


def test_the_multi_template_veto_serves_from_stacking_json_and_a_bad_clusters_entry_is_refused(tmp_path):
    from ecgsl_keras.modeling.stacking import StackedClassifier

    from helpers import assert_stacking_json_refused

    entry = dict(SPEC, clusters={"corr": 0.9, "min_members": 3})
    clf = tiny_beat_stacked(LABELS, v_veto=entry)
    clf.save(tmp_path / "ok")
    loaded = StackedClassifier.load(tmp_path / "ok")
    assert loaded.v_veto.to_spec() == entry
    for i, (bad, match) in enumerate((({"corr": 0.9}, "clusters"), ({"corr": 1.5, "min_members": 3}, "at most 1"),
                                      ({"corr": 0.9, "min_members": 0}, "min_members"), ("tight", "clusters"))):
        assert_stacking_json_refused(tmp_path / f"bad{i}", clf, match, v_veto=dict(SPEC, clusters=bad))


def _width_case():
    """Fourteen beats of one record, all called V, outside AF but one: eight wide ventricular beats of one form (width
    2.2 x the median beat's), four narrower beats of another repeated form (1.4: fusion-like, a group of their own) of
    which one lies in AF, one of them with NaN width, and two narrow calls of the wide form (1.0)."""
    rng = np.random.default_rng(2)
    beats = np.stack([_form(k, rng) for k in ["v"] * 8 + ["b"] * 4 + ["v"] * 2])
    p = np.full((14, 5), 0.1)
    p[:, V] = 0.5
    p[:, S] = 0.2
    x = np.tile([0.0, 2.2, 0.0], (14, 1))           # median_corr, qrs_width_norm, AF evidence
    x[8:12, 1] = 1.4
    x[11, 2] = 50.0                                 # in AF: kept
    x[10, 1] = np.nan                               # NaN width: kept
    x[12:, 1] = 1.0
    return p, beats, x


def test_the_width_test_vetoes_v_calls_narrower_than_the_widest_v_form():
    from ecgsl_keras.modeling.stacking import VVeto

    p, beats, x = _width_case()
    clusters = {"corr": 0.9, "min_members": 3}
    # corr -1: no correlation is below it, so the width test acts alone
    spec = dict(SPEC, min_called=10, corr=-1.0, median=False, clusters=clusters, width=0.7)
    veto = VVeto.from_spec(spec, LABELS)
    assert veto.to_spec() == spec and VVeto.from_spec(veto.to_spec(), LABELS).width == 0.7
    assert veto.reference_width(p, beats, x) == 2.2                    # the widest group's median width
    out, fired = veto.apply(p, beats, x)
    # 1.4 < 0.7 x 2.2 = 1.54: the narrow form's calls go (not the AF one, not the NaN one); 1.0 goes too
    assert fired.tolist() == [False] * 8 + [True, True, False, False, True, True]
    assert (out[fired].argmax(-1) == S).all()
    np.testing.assert_array_equal(out[~fired], p[~fired])
    assert not VVeto.from_spec(dict(spec, width=0.6), LABELS).apply(p, beats, x)[1][8:12].any()   # 1.4 >= 1.32
    one = VVeto.from_spec({k: v for k, v in spec.items() if k != "clusters"}, LABELS)   # one group: all V calls
    assert one.reference_width(p, beats, x) == 2.2 and one.apply(p, beats, x)[1].tolist() == fired.tolist()
    assert not VVeto.from_spec(dict(spec, min_called=14), LABELS).apply(p, beats, x)[1].any()   # 13 outside AF
    assert not VVeto.from_spec({k: v for k, v in spec.items() if k != "width"}, LABELS).apply(p, beats, x)[1].any()
    both = VVeto.from_spec(dict(spec, corr=0.7), LABELS)               # either test fires
    assert both.apply(p, beats, x)[1].tolist() == fired.tolist()


def test_a_bad_width_entry_is_refused_naming_stacking_json(tmp_path):
    from ecgsl_keras.modeling.stacking import StackedClassifier

    from helpers import assert_stacking_json_refused

    entry = dict(SPEC, width=0.7)
    clf = tiny_beat_stacked(LABELS, v_veto=entry)
    clf.save(tmp_path / "ok")
    assert StackedClassifier.load(tmp_path / "ok").v_veto.to_spec() == entry
    for i, (bad, match) in enumerate(((0.0, "width"), (1.5, "width"), ("wide", "width"), (True, "width"),
                                      (float("nan"), "width"))):
        assert_stacking_json_refused(tmp_path / f"bad{i}", clf, match, v_veto=dict(SPEC, width=bad))

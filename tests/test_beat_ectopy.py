"""``ecgsl_keras.data.beat_ectopy``: record columns of ectopy evidence from a per-beat classifier's answer.
Hand-made answers with known values, the bad-input cases, and the ``mitdb-beats`` preset on real signals: the
first minute of MIT-BIH record 208 (fixture; many V beats) against an AF record of the CinC 2017 sample without
beats called ectopic (the preset calls some beats of other AF records of the sample V, e.g. A01045: the columns are
evidence for the booster, not a rule)."""
import math

import numpy as np
import pytest

from ecgsl_keras.data.beat_ectopy import FEATURES, beat_ectopy_features, feature_names

LABELS = ("N", "S", "V", "F", "Q")


def _onehot(classes):
    p = np.full((len(classes), 5), 0.01)
    p[np.arange(len(classes)), [LABELS.index(c) for c in classes]] = 0.96
    return p


def test_names_and_table_agree():
    assert feature_names() == tuple(f.name for f in FEATURES) and len(set(feature_names())) == len(FEATURES)
    cols = beat_ectopy_features(_onehot("NNNNN"), np.arange(5.0))
    assert tuple(cols) == feature_names()


def test_premature_s_beat_with_compensatory_pause_explains_the_irregularity():
    rr = [0.8] * 8 + [0.5, 1.1] + [0.8] * 8          # beat 9 (after the 0.5 s interval) is premature
    t = np.concatenate([[0.0], np.cumsum(rr)])
    classes = ["N"] * len(t)
    classes[9] = "S"
    cols = beat_ectopy_features(_onehot(classes), t, LABELS)
    assert cols["bx_frac_s"] == pytest.approx(1 / len(t)) and cols["bx_frac_v"] == 0.0
    assert cols["bx_longest_ectopic_run"] == 1.0
    assert cols["bx_s_premature_frac"] == 1.0 and cols["bx_ectopic_compensatory_frac"] == 1.0
    assert cols["bx_rmssd_all_norm"] > 0.1
    assert cols["bx_rmssd_clean_norm"] == pytest.approx(0.0, abs=1e-12)   # every irregular step touches beat 9
    assert cols["bx_irregular_clean_frac"] == 0.0 and cols["bx_irregular_explained_frac"] == 1.0
    assert cols["bx_max_p_s"] == pytest.approx(0.96) and cols["bx_mean_p_s"] == pytest.approx(
        (0.96 + 0.01 * (len(t) - 1)) / len(t))
    # the same RR series with the beat called N: nothing explains the irregularity
    plain = beat_ectopy_features(_onehot(["N"] * len(t)), t, LABELS)
    assert plain["bx_irregular_explained_frac"] == 0.0 and plain["bx_rmssd_clean_ratio"] == pytest.approx(1.0)
    assert math.isnan(plain["bx_s_premature_frac"]) and math.isnan(plain["bx_ectopic_compensatory_frac"])


def test_random_rhythm_without_ectopy_stays_unexplained():
    rr = np.random.default_rng(0).uniform(0.4, 1.0, 40)
    t = np.concatenate([[0.0], np.cumsum(rr)])
    cols = beat_ectopy_features(_onehot(["N"] * len(t)), t)
    assert cols["bx_irregular_clean_frac"] > 0.5 and cols["bx_rmssd_clean_ratio"] == pytest.approx(1.0)
    assert cols["bx_longest_ectopic_run"] == 0.0 and cols["bx_frac_s"] == 0.0


def test_few_beats_and_bad_input():
    few = beat_ectopy_features(_onehot("NVN"), [0.0, 0.5, 1.4])
    assert few["bx_frac_v"] == pytest.approx(1 / 3) and math.isnan(few["bx_rmssd_all_norm"])
    assert all(math.isnan(v) for v in beat_ectopy_features(np.zeros((0, 5)), []).values())
    with pytest.raises(ValueError, match="shape"):
        beat_ectopy_features(np.zeros((3, 4)), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="ectopic classes"):
        beat_ectopy_features(np.zeros((3, 2)), [0.0, 1.0, 2.0], ("N", "S"))
    with pytest.raises(ValueError, match="increasing"):
        beat_ectopy_features(_onehot("NNN"), [0.0, 2.0, 1.0])


def test_mitdb_beats_answer_separates_ectopy_from_af(fixtures_dir, cinc_dir):
    """Record 208's first minute (MIT-BIH: frequent V beats, couplets) against A02722 (CinC sample, AF): the
    preset finds V beats in 208 and their intervals explain most of its irregularity; AF's irregularity stays."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model

    model = load_model("mitdb-beats")
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    r = model.predict_signal(record.lead("MLII")[: int(60 * record.fs)], record.fs)
    ectopy = beat_ectopy_features(r["beat_probabilities"], r["beat_times_s"], r["label_names"])
    af_record = open_dataset("cinc2017", cinc_dir).load("A02722")
    r = model.predict_signal(af_record.lead(None), af_record.fs)
    af = beat_ectopy_features(r["beat_probabilities"], r["beat_times_s"], r["label_names"])
    assert ectopy["bx_frac_v"] > 0.1 > af["bx_frac_v"]
    assert ectopy["bx_irregular_explained_frac"] > 0.7 > af["bx_irregular_explained_frac"]
    assert ectopy["bx_irregular_clean_frac"] < 0.2 < af["bx_irregular_clean_frac"]

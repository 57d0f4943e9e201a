"""ecgsl_keras.data.record_features on the real CinC 2017 records shipped in the package."""
import math
import warnings

import numpy as np
import pytest

from ecgsl_keras.data import beat_features as baselines
from ecgsl_keras.data import record_features as rf
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.errors import RecordError, SignalQualityError

NORMAL = "A00715"   # N, 30 s, a clear sinus rhythm with P and T waves
AF = "A01449"       # A, 30 s


@pytest.fixture(scope="module")
def reader(cinc_dir):
    return open_dataset("cinc2017", cinc_dir)


@pytest.fixture(scope="module")
def normal(reader):
    record = reader.load(NORMAL)
    return record.lead(None).astype(np.float64), record.fs


@pytest.fixture(scope="module")
def normal_features(normal):
    return rf.record_features(*normal, groups=rf.GROUPS)


@pytest.fixture(scope="module")
def by_class(reader):
    out = {"N": [], "A": []}
    for rid in reader.record_ids():
        label = reader.labels_for(rid)[0]
        if label in out:
            record = reader.load(rid)
            out[label].append(rf.record_features(record.lead(None), record.fs, groups=rf.GROUPS))
    return out


def test_table_is_the_one_description(normal_features):
    names = [f.name for f in rf.FEATURES]
    assert list(normal_features) == names == list(rf.feature_names(rf.GROUPS))
    assert rf.feature_names() == rf.feature_names(rf.DEFAULT_GROUPS) and len(rf.feature_names()) == 111
    assert len(set(names)) == len(names)
    assert {f.group for f in rf.FEATURES} == set(rf.GROUPS)
    for f in rf.FEATURES:
        assert f.unit and len(f.meaning) > 10, f
    assert rf.feature_names("baseline") == tuple(baselines.FEATURE_NAMES)
    assert rf.feature_names(["baseline", "af"]) == tuple(f.name for f in rf.FEATURES if f.group in ("baseline", "af"))
    with pytest.raises(ValueError, match="unknown feature group"):
        rf.feature_names("nope")
    for group, required in {"quality": ["sqi_kurtosis", "sqi_skewness", "sqi_bsqi", "sqi_psqi", "sqi_bassqi",
                                        "sqi_flat_fraction", "sqi_clipped_fraction"],
                            "af": ["af_afev", "af_p_presence", "af_p_power_ratio", "af_fwave_ratio"],
                            "morphology": ["morph_qrs_width_s", "morph_qt_rr", "morph_t_amplitude"]}.items():
        assert set(required) <= set(rf.feature_names(group))


# NaN by definition on a regular sinus rhythm (the block group's documented NaN: no conduction-change RR pair, no
# atrial cycle with two multiples in use)
SINUS_NAN = {"blk_multiple_period_s", "blk_ratio_fraction"}


def test_every_feature_finite_on_a_normal_record(normal_features):
    bad = {k: v for k, v in normal_features.items() if not math.isfinite(v)}
    assert set(bad) == SINUS_NAN, bad
    f = normal_features
    # physiology of a normal adult sinus beat (generous bounds, but wrong units or regions would fail)
    assert 0.05 <= f["morph_qrs_width_s"] <= 0.14
    assert 0.30 <= f["morph_qtc_bazett_s"] <= 0.50
    assert 0.25 <= f["morph_qt_rr"] <= 0.65
    assert 0.09 <= f["morph_pr_s"] <= 0.30
    assert f["af_p_presence"] > 0.6
    assert 40 <= f["heart_rate"] <= 120
    assert f["sqi_bsqi"] > 0.95
    assert f["sqi_kurtosis"] > 5
    assert f["sqi_flat_fraction"] < 0.01 and f["sqi_clipped_fraction"] < 0.01


def test_baseline_group_equals_the_package_baseline(normal, normal_features):
    from ecgsl_keras.data.signal import preprocess

    beats = preprocess(*normal)
    expected = baselines.record_features(beats.beats, beats.rr)
    got = [normal_features[n] for n in baselines.FEATURE_NAMES]
    np.testing.assert_allclose(got, list(expected.values()), rtol=1e-6, atol=1e-9)


def test_af_evidence_separates_af_from_normal(by_class):
    assert len(by_class["A"]) >= 10 and len(by_class["N"]) >= 10
    afev = {c: np.array([f["af_afev"] for f in rows]) for c, rows in by_class.items()}
    p = {c: np.array([f["af_p_presence"] for f in rows]) for c, rows in by_class.items()}
    fw = {c: np.array([f["af_fwave_ratio"] for f in rows]) for c, rows in by_class.items()}
    assert np.median(afev["A"]) > np.median(afev["N"]) + 10
    assert np.mean(afev["A"] > 15) > np.mean(afev["N"] > 15)
    assert np.median(p["A"]) < np.median(p["N"]) - 0.3
    assert np.median(fw["A"]) > np.median(fw["N"])


def test_one_af_record_against_the_normal_one(reader, normal_features):
    record = reader.load(AF)
    af = rf.record_features(record.lead(None), record.fs)
    assert af["af_afev"] > normal_features["af_afev"] + 10
    assert af["af_irrev_norm"] > normal_features["af_irrev_norm"]
    assert af["af_origin_fraction"] < normal_features["af_origin_fraction"]


def test_bsqi_drops_with_noise(normal, normal_features):
    x, fs = normal
    rng = np.random.default_rng(0)
    noisy = rf.record_features(x + rng.normal(0.0, 0.5, x.size), fs)
    assert normal_features["sqi_bsqi"] > 0.95
    assert noisy["sqi_bsqi"] < normal_features["sqi_bsqi"] - 0.3
    assert noisy["sqi_kurtosis"] < normal_features["sqi_kurtosis"]
    assert noisy["sqi_template_snr_db"] < normal_features["sqi_template_snr_db"]
    assert noisy["sqi_hf_ratio"] > normal_features["sqi_hf_ratio"]
    t = np.arange(x.size) / fs
    wander = rf.record_features(x + 2.0 * np.sin(2 * np.pi * 0.3 * t), fs)
    assert wander["sqi_bassqi"] < normal_features["sqi_bassqi"] - 0.2


def test_flat_and_clipped_signals(normal):
    x, fs = normal
    flat = rf.record_features(np.zeros(int(10 * fs)), fs)
    assert flat["sqi_flat_fraction"] > 0.99
    assert math.isnan(flat["af_afev"]) and math.isnan(flat["mean_rr"]) and math.isnan(flat["morph_qrs_width_s"])
    part = x.copy()
    part[: part.size // 3] = part[0]
    assert abs(rf.record_features(part, fs)["sqi_flat_fraction"] - 1 / 3) < 0.05
    lo, hi = np.percentile(x, [20, 80])
    clipped = rf.record_features(np.clip(x, lo, hi), fs)
    assert clipped["sqi_clipped_fraction"] > 0.3
    with pytest.raises(SignalQualityError) as err:
        rf.record_features(np.zeros(int(10 * fs)), fs, strict=True)
    assert err.value.reason == "flat"


@pytest.mark.parametrize("signal, fs, reason, words", [
    (np.zeros(0), 300.0, "empty", "empty"),
    (np.zeros((100, 3)), 300.0, "bad_shape", "1-D"),
    (np.ones(100), 300.0, "too_short", "minimum"),
    (np.r_[np.ones(3000), np.nan], 300.0, "nan", "NaN"),
    (np.ones(3000), 0.0, "bad_rate", "sampling rate"),
])
def test_bad_input_is_a_clear_error(signal, fs, reason, words):
    with pytest.raises(RecordError, match=words) as err:
        rf.record_features(signal, fs, path="rec7")
    assert isinstance(err.value, SignalQualityError) and err.value.reason == reason and "rec7" in str(err.value)


def test_given_rpeaks(normal, normal_features):
    from ecgsl_keras.data.signal import find_rpeaks

    x, fs = normal
    again = rf.record_features(x, fs, rpeaks=find_rpeaks(x, fs), groups=rf.GROUPS)
    np.testing.assert_allclose(list(again.values()), list(normal_features.values()), equal_nan=True)
    few = rf.record_features(x, fs, rpeaks=find_rpeaks(x, fs)[:3])
    assert math.isnan(few["af_afev"]) and math.isnan(few["hrv_madnn"])      # too few RR intervals: NaN
    with pytest.raises(SignalQualityError, match="outside"):
        rf.record_features(x, fs, rpeaks=[10, x.size + 5])


def test_vectors_and_nan_policies(normal_features):
    flat = rf.record_features(np.zeros(3000), 300.0)
    rows = [normal_features, flat]
    keep = rf.to_matrix(rows)
    assert keep.shape == (2, len(rf.feature_names())) and np.isnan(keep[1]).any() and np.isfinite(keep[0]).all()
    fill = rf.fit_fill_values(keep)
    filled = rf.to_matrix(rows, nan_policy="fill", fill_values=fill)
    assert np.isfinite(filled).all()
    j = rf.feature_names().index("af_afev")
    assert filled[1, j] == normal_features["af_afev"]          # median of the one finite value
    assert rf.to_vector(flat, nan_policy="fill")[j] == rf.DEFAULT_FILL_VALUE
    names = rf.feature_names("af")
    ind = rf.to_vector(flat, names, nan_policy="indicator", fill_values=fill)
    assert ind.shape == (len(rf.vector_names(names, "indicator")),) == (2 * len(names),)
    assert rf.vector_names(names, "indicator")[len(names)] == names[0] + "__missing"
    assert ind[len(names) + names.index("af_afev")] == 1.0 and np.isfinite(ind).all()
    with pytest.raises(ValueError, match="nan_policy"):
        rf.to_vector(flat, nan_policy="zero")


# --- ectopy, rhythm and atrial groups (AF / Other evidence) ----------------------------------------------------

def _rr_series(kind, n=60, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "regular":
        return 0.8 + rng.normal(0.0, 0.01, n)
    if kind == "irregular":       # AF-like: independent intervals
        return rng.uniform(0.45, 1.15, n)
    if kind == "bigeminy":        # short-long pairs
        return np.where(np.arange(n) % 2 == 0, 0.55, 1.05) + rng.normal(0.0, 0.01, n)
    if kind == "ectopic":         # a regular rhythm with a premature beat and its pause every 10 beats
        rr = 0.8 + rng.normal(0.0, 0.01, n)
        rr[5::10], rr[6::10] = 0.5, 1.1
        return rr
    raise ValueError(kind)


def test_default_names_are_those_of_the_shipped_presets():
    """cinc2017-stacked was trained on the 111 default features and cinc2017 on them plus the atrial group
    (chosen by CV, issue 18): both stay available by name, in the presets' column order, and
    prepare --record-features (the hybrid Keras model's input) keeps its 111 columns."""
    import json
    from pathlib import Path

    import ecgsl_keras

    def spec(name):
        return json.loads((Path(ecgsl_keras.__file__).parent / "presets" / name / "stacking.json").read_text())

    default = list(rf.feature_names())
    assert default == spec("cinc2017-stacked")["feature_names"]
    assert list(rf.feature_names(rf.DEFAULT_GROUPS + ("atrial",))) == spec("cinc2017")["feature_names"]
    assert set(rf.feature_names(("ectopy", "rhythm", "atrial"))).isdisjoint(default)


def test_rhythm_separates_regular_irregular_and_patterned_rr():
    f = {k: rf.rhythm_features(_rr_series(k)) for k in ("regular", "irregular", "bigeminy", "ectopic")}
    assert list(f["regular"]) == list(rf.feature_names(("ectopy", "rhythm")))
    for k, row in f.items():
        if k == "bigeminy":       # every interval is premature or compensatory: no clean interval is left
            assert row["rhy_ectopic_fraction"] > 0.9 and math.isnan(row["rhy_clean_cv"])
            row = {n: v for n, v in row.items() if not n.startswith("rhy_clean_")}
        assert all(math.isfinite(v) for v in row.values()), (k, row)
    # entropy: the irregular series is the least predictable
    assert f["irregular"]["rhy_cosen_lm"] > f["regular"]["rhy_cosen_lm"] + 1.0
    assert f["irregular"]["rhy_cosen_lm"] > f["bigeminy"]["rhy_cosen_lm"] + 1.0
    assert f["irregular"]["rhy_fuzzy_entropy"] > f["bigeminy"]["rhy_fuzzy_entropy"] + 0.3
    # patterns: bigeminy alternates, clusters in two tight groups; AF-like RR does not
    assert f["bigeminy"]["rhy_acf1"] < -0.9 and abs(f["irregular"]["rhy_acf1"]) < 0.4
    assert f["bigeminy"]["rhy_kmeans2_cv"] < 0.03 < 0.1 < f["irregular"]["rhy_kmeans2_cv"]
    assert f["bigeminy"]["rhy_poincare_top3_fraction"] > 0.95 > 0.6 > f["irregular"]["rhy_poincare_top3_fraction"]
    assert f["regular"]["rhy_poincare_clusters"] == 1
    # ectopic beats removed, the ectopic rhythm is as regular as the regular one
    assert f["ectopic"]["rhy_ectopic_fraction"] == pytest.approx(0.2, abs=0.02)
    assert f["regular"]["rhy_ectopic_fraction"] == 0.0
    assert f["ectopic"]["rhy_clean_pnn50"] < 0.05 and f["ectopic"]["rhy_clean_cv"] < 0.03
    assert f["irregular"]["rhy_clean_pnn50"] > 0.5
    assert f["irregular"]["rhy_irregular_window_fraction"] > 0.9 > 0.0 == f["regular"]["rhy_irregular_window_fraction"]


def test_ectopic_mask_flags_premature_and_compensatory_intervals():
    rr = _rr_series("ectopic", n=30)
    flags = np.flatnonzero(rf.ectopic_mask(rr))
    assert set(flags) == {5, 6, 15, 16, 25, 26}
    assert rf.ectopic_mask(np.zeros(0)).shape == (0,)


def test_rhythm_nan_handling():
    short = rf.rhythm_features([0.8, 0.8, 0.81])                      # fewer than MIN_RR intervals
    assert all(math.isnan(v) for v in short.values())
    assert all(math.isnan(v) for v in rf.rhythm_features([0.8, np.nan, 0.8, 0.8, 0.8]).values())
    const = rf.rhythm_features(np.full(20, 0.8))                      # a constant series
    assert math.isnan(const["rhy_acf1"]) and math.isnan(const["rhy_fuzzy_entropy"])
    assert const["rhy_ectopic_fraction"] == 0.0 and const["rhy_clean_pnn50"] == 0.0
    assert const["rhy_poincare_clusters"] == 1 and const["rhy_kmeans2_cv"] == 0.0
    few = rf.rhythm_features(_rr_series("regular", n=6))              # shorter than one window of 8 intervals
    assert math.isnan(few["rhy_window_madsd_max"]) and math.isfinite(few["rhy_clean_cv"])


def test_rhythm_and_atrial_groups_on_the_sample_records(by_class, normal_features):
    for name in rf.feature_names(("ectopy", "rhythm", "atrial")):
        assert math.isfinite(normal_features[name]), name
    assert normal_features["atr_p_presence"] > 0.6 and normal_features["atr_dominant_fraction"] > 0.8
    med = {c: {n: np.nanmedian([f[n] for f in rows]) for n in ("rhy_cosen_lm", "rhy_clean_pnn50", "atr_p_snr_db",
                                                                 "atr_p_presence")}
           for c, rows in by_class.items()}
    assert med["A"]["rhy_cosen_lm"] > med["N"]["rhy_cosen_lm"] + 0.5
    assert med["A"]["rhy_clean_pnn50"] > med["N"]["rhy_clean_pnn50"] + 0.3
    assert med["A"]["atr_p_snr_db"] < med["N"]["atr_p_snr_db"] - 3
    assert med["A"]["atr_p_presence"] < med["N"]["atr_p_presence"] - 0.3


def test_nonlinear_group_reads_neurokit2_on_the_records_rpeaks(normal, normal_features, by_class):
    """The ``nonlinear`` group: 17 documented names outside the default 111, neurokit2's ``hrv_nonlinear`` values
    of the R-peaks ``record_features`` finds, finite on a normal record, NaN with too few beats or a constant RR,
    and random (AF) against correlated (sinus) RR on the sample records."""
    import neurokit2 as nk

    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.data.signal import clean, find_rpeaks

    names = rf.feature_names("nonlinear")
    assert names == ("nl_pip", "nl_ials", "nl_pss", "nl_pas", "nl_dfa_alpha1", "nl_apen", "nl_lzc", "nl_gi", "nl_si",
                     "nl_ai", "nl_pi", "nl_c1d", "nl_c2d", "nl_sym_0v", "nl_sym_1v", "nl_sym_2lv", "nl_sym_2uv")
    assert "nonlinear" not in rf.DEFAULT_GROUPS and not set(names) & set(rf.feature_names())
    x, fs = normal
    config = SignalConfig()
    peaks = find_rpeaks(x, fs, config, cleaned=clean(x, fs, config.clean_method))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = nk.hrv_nonlinear(peaks, sampling_rate=fs)
    for name in names:
        assert math.isfinite(normal_features[name]), name
        assert normal_features[name] == pytest.approx(float(table[rf._NK_NONLINEAR[name]].iloc[0]), rel=1e-12), name
    assert 0 <= normal_features["nl_pip"] <= 1 and 0 <= normal_features["nl_pi"] <= 100
    assert sum(normal_features[n] for n in ("nl_sym_0v", "nl_sym_1v", "nl_sym_2lv", "nl_sym_2uv")) == pytest.approx(1)

    few = rf.record_features(x, fs, rpeaks=peaks[:rf.MIN_RR], groups="nonlinear")   # MIN_RR - 1 intervals
    assert tuple(few) == names and all(math.isnan(few[n]) for n in names)

    # computed on request only: the default leaves the group out, a model's columns name their groups
    default = rf.record_features(x, fs, rpeaks=peaks)
    assert "nonlinear" in rf.ON_REQUEST_GROUPS and not set(names) & set(default)
    assert tuple(default) == rf.feature_names(tuple(g for g in rf.GROUPS if g not in rf.ON_REQUEST_GROUPS))
    assert all(default[n] == normal_features[n] or math.isnan(default[n]) and math.isnan(normal_features[n])
               for n in default)
    assert rf.groups_of(["nl_pip", "hrv_madnn", "atr_residual_fwave_ratio"]) == ("hrv", "atrial", "nonlinear")
    with pytest.raises(ValueError, match="unknown record feature"):
        rf.groups_of(["nl_pip", "no_such_feature"])
    assert np.isnan(rf.to_vector(few, names, nan_policy="keep")).all()
    assert (rf.to_vector(few, names, nan_policy="fill") == rf.DEFAULT_FILL_VALUE).all()
    short = rf.record_features(x, fs, rpeaks=peaks[:8], groups="nonlinear")               # 7 intervals: DFA alpha1 needs 12
    assert math.isnan(short["nl_dfa_alpha1"]) and math.isfinite(short["nl_pip"])
    const = rf.record_features(x, fs, rpeaks=np.arange(100, x.size - 100, int(fs)), groups="nonlinear")  # constant RR
    assert all(math.isnan(const[n]) for n in names)

    med = {c: {n: np.nanmedian([f[n] for f in rows]) for n in ("nl_dfa_alpha1", "nl_sym_0v")}
           for c, rows in by_class.items()}
    assert med["A"]["nl_dfa_alpha1"] < med["N"]["nl_dfa_alpha1"] - 0.3
    assert med["A"]["nl_sym_0v"] < med["N"]["nl_sym_0v"] - 0.1


def test_tq_group_summarises_the_stretches_the_deep_side_sees(normal, normal_features, by_class):
    """The ``tq`` group (af41): six documented names, on request only, computed from the same stretches as
    ``preprocess``'s ``beat_reference="tq_median"`` channels (the stretch, its residual against the record's median
    stretch), NaN with too few beats, and a steady P wave (sinus) against f waves (AF) on the sample records."""
    from dataclasses import replace

    from ecgsl_keras.config import SignalConfig
    from ecgsl_keras.data.signal import preprocess

    names = rf.feature_names("tq")
    assert names == ("tq_residual_ratio_median", "tq_residual_ratio_iqr", "tq_residual_high_fraction",
                     "tq_median_corr", "tq_median_rms", "tq_residual_rms_median")
    assert "tq" in rf.ON_REQUEST_GROUPS and "tq" not in rf.DEFAULT_GROUPS
    assert not set(names) & set(rf.feature_names(tuple(g for g in rf.GROUPS if g not in rf.ON_REQUEST_GROUPS)))
    assert all(rf._BY_NAME[n].group == "tq" and rf._BY_NAME[n].meaning for n in names)
    x, fs = normal
    got = rf.record_features(x, fs, groups="tq")
    assert tuple(got) == names and all(got[n] == normal_features[n] for n in names)
    assert all(math.isfinite(got[n]) for n in names)
    assert got["tq_residual_ratio_median"] >= 0 and -1 <= got["tq_median_corr"] <= 1
    assert 0 <= got["tq_residual_high_fraction"] <= 1 and got["tq_median_rms"] > 0

    # the deep side's channels (af40b) give the same per-beat ratios: stretch = channel 2, residual = channel 3
    config = replace(SignalConfig(), beat_reference="tq_median")
    beats = preprocess(x, fs, config).beats.astype(np.float64)
    L = config.beat_len
    stretch, residual = beats[:, L:2 * L], beats[:, 2 * L:]
    mask = stretch != 0                              # tq_stretch's 0s are the samples outside the stretch
    held = mask.sum(axis=1)
    centred = np.where(mask, stretch - (stretch.sum(axis=1) / held)[:, None], 0.0)
    ratio = (residual ** 2).sum(axis=1) / (centred ** 2).sum(axis=1)
    assert got["tq_residual_ratio_median"] == pytest.approx(float(np.median(ratio)), rel=1e-4)
    assert got["tq_residual_high_fraction"] == pytest.approx(float(np.mean(ratio > rf.TQ_RESIDUAL_HIGH)))
    assert got["tq_residual_rms_median"] == pytest.approx(float(np.median(np.sqrt((residual ** 2).sum(axis=1)
                                                                                  / held))), rel=1e-4)

    few = rf.record_features(x, fs, rpeaks=np.array([300, 600]), groups="tq")        # fewer than MIN_BEATS beats
    assert all(math.isnan(few[n]) for n in names)

    med = {c: {n: np.nanmedian([f[n] for f in r]) for n in names} for c, r in by_class.items()}
    assert med["A"]["tq_residual_ratio_median"] > med["N"]["tq_residual_ratio_median"] + 0.2
    assert med["A"]["tq_residual_high_fraction"] > med["N"]["tq_residual_high_fraction"] + 0.2
    assert med["A"]["tq_median_corr"] < med["N"]["tq_median_corr"] - 0.2


def test_paroxysm_and_block_groups_on_the_rr_series_and_the_sample_records(normal, normal_features, by_class):
    """The ``paroxysm`` and ``block`` groups (af44): ten documented names, on request only, the same from
    ``record_features`` as from ``rr_pattern_features`` on the record's R-peaks; an AF paroxysm inside a regular
    record, flutter with variable block against AF-like intervals, documented NaN."""
    names = rf.feature_names(("paroxysm", "block"))
    assert len(names) == 10 and {"paroxysm", "block"} <= set(rf.ON_REQUEST_GROUPS)
    assert not set(names) & set(rf.feature_names(tuple(g for g in rf.GROUPS if g not in rf.ON_REQUEST_GROUPS)))
    x, fs = normal
    got = rf.record_features(x, fs, groups=("paroxysm", "block"))
    assert tuple(got) == names and all(got[n] == normal_features[n] for n in names if math.isfinite(got[n]))
    # sinus rhythm: no conduction-change pair (blk_ratio_fraction NaN, documented), no two multiples in use
    assert math.isnan(got["blk_ratio_fraction"]) and math.isnan(got["blk_multiple_period_s"])
    assert got["blk_multiple_excess"] == 0.0 and got["blk_cluster_count"] == 1.0
    assert all(math.isfinite(got[n]) for n in names if n not in ("blk_ratio_fraction", "blk_multiple_period_s"))
    assert got["pax_irregular_run_fraction"] == 0.0
    peaks = np.array([300 + 240 * i for i in range(30)])
    given = rf.record_features(x, fs, rpeaks=peaks, groups=("paroxysm", "block"))
    alone = rf.rr_pattern_features(np.diff(peaks) / fs)
    assert list(given) == list(alone) and all(given[n] == alone[n] or (math.isnan(given[n]) and math.isnan(alone[n]))
                                               for n in names)

    rng = np.random.default_rng(1)
    regular, af = _rr_series("regular", n=40), _rr_series("irregular", n=40)
    flutter = 0.22 * rng.choice([2, 3, 4], 40) + rng.normal(0.0, 0.005, 40)   # 2:1 to 4:1 block of a 0.22 s cycle
    parox = np.concatenate([regular[:24], af[:16]])
    f = {k: rf.rr_pattern_features(v) for k, v in dict(regular=regular, af=af, flutter=flutter, parox=parox).items()}
    assert f["af"]["pax_afev_norm"] > 0.5 > f["regular"]["pax_afev_norm"]
    assert f["parox"]["pax_afev_window_max"] > 0.5 > f["parox"]["pax_afev_window_min"]
    assert f["af"]["pax_afev_window_min"] > 0.5
    assert f["af"]["pax_madsd_window_min"] > 2 * f["parox"]["pax_madsd_window_min"]
    assert f["af"]["pax_irregular_run_fraction"] > f["parox"]["pax_irregular_run_fraction"] > 0.3
    assert f["regular"]["pax_irregular_run_fraction"] == 0.0
    assert f["flutter"]["blk_multiple_excess"] > 0.6 > 0.3 > f["af"]["blk_multiple_excess"]
    assert f["flutter"]["blk_multiple_period_s"] == pytest.approx(0.22, abs=0.006)
    assert f["flutter"]["blk_ratio_fraction"] > 0.9 > 0.6 > f["af"]["blk_ratio_fraction"]
    assert f["flutter"]["blk_cluster_count"] == 3 and f["flutter"]["blk_cluster_fraction"] == 1.0
    assert f["af"]["blk_cluster_fraction"] < 0.8
    assert all(math.isnan(v) for v in rf.rr_pattern_features([0.8, 0.8, 0.81]).values())    # < MIN_RR intervals
    short = rf.rr_pattern_features(regular[:10])             # fewer than AFEV_WINDOW intervals
    assert math.isnan(short["pax_afev_window_max"]) and math.isfinite(short["pax_madsd_window_min"])

    med = {c: {n: np.nanmedian([r[n] for r in rows]) for n in ("pax_afev_norm", "pax_madsd_window_min")}
           for c, rows in by_class.items()}
    assert med["A"]["pax_afev_norm"] > med["N"]["pax_afev_norm"] + 0.3
    assert med["A"]["pax_madsd_window_min"] > med["N"]["pax_madsd_window_min"]

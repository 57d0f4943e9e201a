"""Per-beat features (issue 18, deliverable 3) on the MIT-BIH fixture records: ventricular beats are wide,
premature and unlike the record's median beat; the RR context is divided by the record's own average RR."""
import numpy as np
import pytest

from ecgsl_keras import tasks
from ecgsl_keras.data.per_beat_features import FEATURE_NAMES, FEATURES, per_beat_features, record_rr_s
from helpers import mitdb_beats

N, V = tasks.MITDB_AAMI.label_names.index("N"), tasks.MITDB_AAMI.label_names.index("V")


def _column(X, name):
    return X[:, FEATURE_NAMES.index(name)]


def test_every_feature_is_documented_with_a_unit():
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES)) == len(FEATURES)
    assert all(unit and meaning for unit, meaning in FEATURES.values())


@pytest.mark.parametrize("record_id", ["119", "208"])
def test_ventricular_beats_are_wide_premature_and_unlike_the_median_beat(record_id):
    beats, rr, labels = mitdb_beats(record_id)
    X = per_beat_features(beats, rr)
    assert X.shape == (len(beats), len(FEATURE_NAMES))
    np.testing.assert_allclose(_column(X, "pre_rr_norm"), rr[:, 0] / record_rr_s(rr))
    np.testing.assert_allclose(_column(X, "record_rr_s"), np.mean(rr[:, 0]))
    normal, ventricular = labels == N, labels == V
    assert normal.sum() > 50 and ventricular.sum() > 20
    med = {name: (np.nanmedian(_column(X, name)[normal]), np.nanmedian(_column(X, name)[ventricular]))
           for name in ("qrs_width_ms", "pre_rr_norm", "post_pre_ratio", "residual_norm")}
    assert med["qrs_width_ms"][1] >= med["qrs_width_ms"][0] + 40          # wide QRS (>= 40 ms wider)
    assert med["pre_rr_norm"][1] < 0.9 < med["pre_rr_norm"][0]             # premature against the record's own RR
    assert med["post_pre_ratio"][1] > 1.2 > med["post_pre_ratio"][0]       # compensatory pause
    assert med["residual_norm"][1] > 1.5 * med["residual_norm"][0]
    assert np.isfinite(X[:, :FEATURE_NAMES.index("post_pre_ratio") + 1]).all()


def test_flat_beats_give_nan_correlations_not_errors():
    beats = np.zeros((5, 96))
    rr = np.full((5, 3), 0.8)
    X = per_beat_features(beats, rr)
    assert np.isnan(_column(X, "median_corr")).all() and np.isnan(_column(X, "r_amplitude_norm")).all()
    np.testing.assert_allclose(_column(X, "pre_rr_norm"), 1.0)


@pytest.mark.parametrize("beats, rr", [(np.zeros((4, 40)), np.ones((4, 3))), (np.zeros((4, 96)), np.ones((3, 3))),
                                       (np.zeros((4, 96)), np.ones((4, 2)))])
def test_wrong_shapes_are_refused(beats, rr):
    with pytest.raises(ValueError, match="beats must be|rr must be"):
        per_beat_features(beats, rr)


# --- second set: RR context, scale-free morphology, a second lead (issue 18) ---------------------------------

from ecgsl_keras.data.per_beat_features import (MORPHOLOGY_FEATURE_NAMES, MORPHOLOGY_FEATURES,  # noqa: E402
                                                 RR_CONTEXT_FEATURE_NAMES, RR_CONTEXT_FEATURES, lead_beats,
                                                 morphology_features, rr_context_features)


def _rr_of(times_s):
    from ecgsl_keras.data.signal import rr_features

    return rr_features(np.asarray(times_s) * 1000.0, 1000.0)


def test_second_set_is_documented_with_units():
    for table, names in ((RR_CONTEXT_FEATURES, RR_CONTEXT_FEATURE_NAMES),
                         (MORPHOLOGY_FEATURES, MORPHOLOGY_FEATURE_NAMES)):
        assert len(names) == len(set(names)) == len(table)
        assert all(unit and meaning for unit, meaning in table.values())
    assert not set(RR_CONTEXT_FEATURE_NAMES) & set(FEATURE_NAMES)
    assert not set(MORPHOLOGY_FEATURE_NAMES) & set(FEATURE_NAMES)


def test_a_premature_beat_in_a_regular_rhythm_stands_out_and_atrial_fibrillation_is_irregular():
    rng = np.random.default_rng(0)
    regular = np.cumsum(np.full(120, 0.8))
    regular[60] -= 0.3                                       # beat 60 comes 300 ms early: compensatory pause
    X = rr_context_features(regular, _rr_of(regular))
    col = {name: X[:, i] for i, name in enumerate(RR_CONTEXT_FEATURE_NAMES)}
    assert X.shape == (120, len(RR_CONTEXT_FEATURE_NAMES)) and np.isfinite(X).all()
    assert col["pre_rr_past10_ratio"][60] == pytest.approx(0.5 / 0.8)
    np.testing.assert_allclose(col["pre_rr_past10_ratio"][1:60], 1.0)
    assert col["post_rr_past10_ratio"][60] == pytest.approx(1.1 / 0.8)
    assert col["pre_rr_5min_ratio"][60] < 0.7 and col["pre_rr_past10_z"][60] < -10
    assert col["rr_irregularity"][60] < 0.01                 # one ectopic beat does not make the rhythm irregular
    fibrillation = np.cumsum(rng.uniform(0.4, 1.2, 120))
    Xf = rr_context_features(fibrillation, _rr_of(fibrillation))
    irregular = Xf[:, RR_CONTEXT_FEATURE_NAMES.index("rr_irregularity")]
    assert np.median(irregular) > 0.2
    with pytest.raises(ValueError, match="rr must be"):
        rr_context_features(regular[:5], _rr_of(regular))


def test_haar_coefficients_match_pywt_and_ventricular_beats_differ_from_the_median_beat():
    beats, rr, labels = mitdb_beats("208")
    M = morphology_features(beats)
    assert M.shape == (len(beats), len(MORPHOLOGY_FEATURE_NAMES)) and np.isfinite(M).all()
    pywt = pytest.importorskip("pywt")
    from ecgsl_keras.data.per_beat_features import BASELINE

    centred = beats[0].astype(np.float64) - np.median(beats[0, BASELINE])
    median = np.median(beats - np.median(beats[:, BASELINE], axis=1, keepdims=True), axis=0)
    expected = pywt.wavedec(centred, "db1", level=3)[0] / np.sqrt((median ** 2).mean())
    np.testing.assert_allclose(M[0, :12], expected, rtol=1e-5)
    diff = np.abs(M[:, 12:24]).sum(axis=1)
    assert np.median(diff[labels == V]) > 2 * np.median(diff[labels == N])


def test_lead_beats_reproduce_the_prepared_beats_and_cut_v1_at_the_same_r_peaks():
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.datasets.wfdb_folder import read_wfdb_signal
    from ecgsl_keras.data.prepare import match_beat_labels
    from ecgsl_keras.data.signal import preprocess
    from helpers import MITDB_FIXTURE

    record = open_dataset("mitdb", MITDB_FIXTURE).load("119")
    seconds = int(90 * record.fs)
    prepared = preprocess(record.lead(None)[:seconds], record.fs, path=record.path)
    same = lead_beats(record.lead(None)[:seconds], record.fs, prepared.rpeaks)
    np.testing.assert_allclose(same, prepared.beats, atol=1e-5)          # the same chain, the same window
    v1, fs, names, _ = read_wfdb_signal(MITDB_FIXTURE / "119", lead="V1", sampto=seconds)
    assert list(names) == ["V1"]
    beats_v1 = lead_beats(v1[:, 0], fs, prepared.rpeaks)
    assert beats_v1.shape == prepared.beats.shape and not np.allclose(beats_v1, prepared.beats)
    labels = match_beat_labels(prepared.rpeaks_native, record.beat_annotations, tasks.MITDB_AAMI, record.fs)
    X = per_beat_features(beats_v1, prepared.rr)
    residual = _column(X, "residual_norm")
    assert np.median(residual[labels == V]) > 2 * np.median(residual[labels == N])   # V beats differ in V1 too
    with pytest.raises(ValueError, match="no full window"):
        lead_beats(v1[:, 0], fs, np.array([1, 50, 100]))


def test_second_lead_features_are_the_shape_columns_of_the_other_lead_at_the_same_r_peaks():
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.datasets.wfdb_folder import read_wfdb_signal
    from ecgsl_keras.data.per_beat_features import (SECOND_LEAD_FEATURE_NAMES, SHAPE_FEATURE_NAMES,
                                                     second_lead_features)
    from ecgsl_keras.data.prepare import match_beat_labels
    from ecgsl_keras.data.signal import preprocess
    from helpers import MITDB_FIXTURE

    assert len(SECOND_LEAD_FEATURE_NAMES) == len(SHAPE_FEATURE_NAMES) - 2            # no absolute mV columns
    assert all(n.startswith("lead2_") and n[6:] in SHAPE_FEATURE_NAMES for n in SECOND_LEAD_FEATURE_NAMES)
    assert not set(SECOND_LEAD_FEATURE_NAMES) & set(FEATURE_NAMES)
    record = open_dataset("mitdb", MITDB_FIXTURE).load("119")
    seconds = int(90 * record.fs)
    prepared = preprocess(record.lead(None)[:seconds], record.fs, path=record.path)
    v1, fs, _, _ = read_wfdb_signal(MITDB_FIXTURE / "119", lead="V1", sampto=seconds)
    X2 = second_lead_features(v1[:, 0], fs, prepared.rpeaks, prepared.rr)
    assert X2.shape == (len(prepared.rpeaks), len(SECOND_LEAD_FEATURE_NAMES))
    full = per_beat_features(lead_beats(v1[:, 0], fs, prepared.rpeaks), prepared.rr)
    for i, name in enumerate(SECOND_LEAD_FEATURE_NAMES):
        np.testing.assert_array_equal(X2[:, i], _column(full, name[6:]))
    labels = match_beat_labels(prepared.rpeaks_native, record.beat_annotations, tasks.MITDB_AAMI, record.fs)
    corr = X2[:, SECOND_LEAD_FEATURE_NAMES.index("lead2_median_corr")]
    assert np.median(corr[labels == V]) < np.median(corr[labels == N])                # V beats differ in V1
    with pytest.raises(ValueError, match="no full window"):
        second_lead_features(v1[:, 0], fs, np.array([1, 50, 100]), prepared.rr[:3])


def test_beat_feature_columns_picks_named_columns_of_every_group_in_the_order_asked():
    from ecgsl_keras.data.per_beat_features import ALL_FEATURE_NAMES, beat_feature_columns

    beats, rr, _ = mitdb_beats("208", 60.0)
    rpeaks_s = np.cumsum(rr[:, 0])                       # R-peak times consistent with the previous-RR column
    names = ["rr_irregularity", "qrs_width_norm", "kurtosis_2", "pre_rr_norm"]
    X = beat_feature_columns(beats, rr, rpeaks_s, names)
    assert X.shape == (len(beats), 4)
    np.testing.assert_array_equal(X[:, 1], _column(per_beat_features(beats, rr), "qrs_width_norm"))
    np.testing.assert_array_equal(X[:, 3], _column(per_beat_features(beats, rr), "pre_rr_norm"))
    np.testing.assert_array_equal(X[:, 0], rr_context_features(rpeaks_s, rr)[:, -1])
    np.testing.assert_array_equal(X[:, 2], morphology_features(beats)[:, MORPHOLOGY_FEATURE_NAMES.index("kurtosis_2")])
    assert len(ALL_FEATURE_NAMES) == len(set(ALL_FEATURE_NAMES))
    assert beat_feature_columns(beats, rr, rpeaks_s, []).shape == (len(beats), 0)
    with pytest.raises(ValueError, match="qrs_area"):
        beat_feature_columns(beats, rr, rpeaks_s, ["qrs_area"])


def test_window_context_features_are_the_record_features_of_the_30_s_window_holding_the_beat():
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import (WINDOW_FEATURE_NAMES, WINDOW_FEATURES, WINDOW_RECORD_FEATURES,
                                                     beat_feature_columns, window_context_features)
    from ecgsl_keras.data.record_features import record_features
    from ecgsl_keras.data.signal import preprocess
    from helpers import MITDB_FIXTURE

    assert all(unit and meaning for unit, meaning in WINDOW_FEATURES.values())
    record = open_dataset("mitdb", MITDB_FIXTURE).load("208")
    signal = record.lead(None)[: int(75 * record.fs)]          # windows 0-30 s, 30-60 s and a short 60-75 s
    beats = preprocess(signal, record.fs, path=record.path)
    X = window_context_features(signal, record.fs, beats.rpeaks_native)
    assert X.shape == (len(beats.beats), len(WINDOW_FEATURE_NAMES))
    width = int(30 * record.fs)
    second = (beats.rpeaks_native >= width) & (beats.rpeaks_native < 2 * width)
    expected = record_features(signal[width:2 * width], record.fs, rpeaks=beats.rpeaks_native[second] - width)
    np.testing.assert_array_equal(X[second], np.tile([expected[n] for n in WINDOW_RECORD_FEATURES], (second.sum(), 1)))
    first = beats.rpeaks_native < width
    assert not np.array_equal(X[first][0], X[second][0], equal_nan=True)   # each window its own values
    assert np.isfinite(X[first][:, WINDOW_FEATURE_NAMES.index("window_af_afev")]).all()
    with pytest.raises(ValueError, match="window_ columns need"):
        beat_feature_columns(beats.beats, beats.rr, beats.rpeaks / beats.fs, ["window_cosen"])


# --- fourth set: the beat among its record's shapes (morphology population) ---------------------------------

from ecgsl_keras.data import per_beat_features as per_beat_module  # noqa: E402
from ecgsl_keras.data.per_beat_features import (POPULATION_FEATURE_NAMES, POPULATION_FEATURES,  # noqa: E402
                                                 population_features)


def _population_column(X, name):
    return X[:, POPULATION_FEATURE_NAMES.index(name)]


@pytest.mark.parametrize("record_id", ["119", "208"])
def test_ventricular_beats_are_rare_shapes_of_their_record_and_normal_beats_common(record_id, monkeypatch):
    assert all(unit and meaning for unit, meaning in POPULATION_FEATURES.values())
    beats, rr, labels = mitdb_beats(record_id)
    rpeaks_s = np.cumsum(rr[:, 0])
    X = population_features(beats, rr, rpeaks_s)
    assert X.shape == (len(beats), len(POPULATION_FEATURE_NAMES)) and np.isfinite(X).all()
    normal, ventricular = labels == N, labels == V
    med = {name: (np.median(_population_column(X, name)[normal]), np.median(_population_column(X, name)[ventricular]))
           for name in POPULATION_FEATURE_NAMES}
    assert med["similar_qrs_90"][0] > med["similar_qrs_90"][1] + 0.2      # a normal shape is the common one
    assert med["dominant_corr_qrs"][0] > 0.9 > med["dominant_corr_qrs"][1]
    assert med["dominant_corr"][0] > med["dominant_corr"][1] + 0.2
    assert med["dominant_distance_z"][1] > 1.5 * med["dominant_distance_z"][0]
    assert med["pre_rr_dominant_ratio"][1] < 0.9 < med["pre_rr_dominant_ratio"][0]
    # 90 s < the +-150 s window: every other beat is a neighbour, as a brute-force correlation matrix counts them
    # (the other beat shifted by -1, 0, +1 sample, the largest correlation)
    centred = beats - np.median(beats[:, per_beat_module.BASELINE], axis=1, keepdims=True)
    q, n = per_beat_module.QRS_REGION, len(beats)
    corr = np.max([np.corrcoef(centred[:, q], centred[:, q.start + s:q.stop + s])[:n, n:] for s in (-1, 0, 1)], axis=0)
    np.fill_diagonal(corr, np.nan)
    np.testing.assert_allclose(_population_column(X, "similar_qrs_90"), (corr >= 0.9).sum(axis=1) / (len(beats) - 1))
    # the chunked blocks give the same answer whatever their size
    monkeypatch.setattr(per_beat_module, "POPULATION_CHUNK", 7)
    np.testing.assert_array_equal(population_features(beats, rr, rpeaks_s), X)


def test_a_premature_beat_of_the_usual_shape_is_early_against_its_own_shape():
    t = np.arange(400, dtype=np.float64)
    usual = np.exp(-0.5 * ((t[:96] - 32) / 2.0) ** 2)                   # a narrow QRS at sample 32
    odd = -np.exp(-0.5 * ((t[:96] - 34) / 6.0) ** 2)                     # a wide, inverted one
    times = np.cumsum(np.full(400, 0.8))
    times[100:] -= 0.3                                                   # beat 100 comes 300 ms early ...
    times[101:] += 0.3                                                   # ... with a compensatory pause
    beats = np.tile(usual, (400, 1)) + np.random.default_rng(0).normal(0, 0.01, (400, 96))
    beats[200] = odd                                                     # one beat of a shape of its own
    X = population_features(beats, _rr_of(times), times)
    col = {name: _population_column(X, name) for name in POPULATION_FEATURE_NAMES}
    assert col["pre_rr_similar_ratio"][100] == pytest.approx(0.5 / 0.8, rel=0.01)
    assert col["pre_rr_dominant_ratio"][100] == pytest.approx(0.5 / 0.8, rel=0.01)
    assert col["similar_qrs_90"][100] > 0.99 and col["dominant_corr"][100] > 0.99
    assert col["similar_qrs_90"][200] == 0 and col["pre_rr_similar_ratio"][200] == 1.0   # only itself
    assert col["dominant_corr"][200] < 0 and col["dominant_distance_z"][200] > 10
    # the +-150 s window: the odd beat (at 160 s) is a neighbour of beat 100 (80 s), not of beat 0 (0.8 s)
    assert col["similar_qrs_90"][0] == 1.0 and col["dominant_share"][0] == 1.0
    assert 0.99 < col["similar_qrs_90"][100] < 1.0 and 0.99 < col["dominant_share"][100] < 1.0
    with pytest.raises(ValueError, match="must match"):
        population_features(beats, _rr_of(times)[:10], times)
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    np.testing.assert_array_equal(beat_feature_columns(beats, _rr_of(times), times, ["dominant_corr"])[:, 0],
                                  col["dominant_corr"])


# --- fifth set: the local rhythm around the beat (issue 18, rhythm-gated ectopy) --------------------------------

from ecgsl_keras.data.per_beat_features import (RHYTHM_FEATURE_NAMES, RHYTHM_FEATURES,  # noqa: E402
                                                 local_rhythm_features)


def _rhythm_column(X, name):
    return X[:, RHYTHM_FEATURE_NAMES.index(name)]


def test_rhythm_set_is_documented_and_new():
    assert len(RHYTHM_FEATURE_NAMES) == len(set(RHYTHM_FEATURE_NAMES)) == len(RHYTHM_FEATURES)
    assert all(unit and meaning for unit, meaning in RHYTHM_FEATURES.values())
    others = set(FEATURE_NAMES) | set(RR_CONTEXT_FEATURE_NAMES) | set(POPULATION_FEATURE_NAMES)
    assert not set(RHYTHM_FEATURE_NAMES) & others


def test_an_ectopic_beat_in_sinus_rhythm_is_premature_and_a_fibrillating_stretch_is_irregular():
    rng = np.random.default_rng(1)
    rr = np.concatenate([np.full(60, 0.8), rng.uniform(0.35, 1.1, 60), np.full(60, 0.8)])
    times = np.cumsum(rr)
    times[30:] -= 0.3                                   # beat 30 comes 300 ms early ...
    times[31:] += 0.3                                   # ... with a compensatory pause
    X = local_rhythm_features(times)
    col = {name: _rhythm_column(X, name) for name in RHYTHM_FEATURE_NAMES}
    assert X.shape == (180, len(RHYTHM_FEATURE_NAMES))
    # the ectopic beat's own two intervals are left out: its neighbours are regular, its prematurity stands out
    assert col["rhythm_rmssd_norm"][30] < 1e-9 and col["rhythm_mad_norm"][30] < 1e-9
    assert col["rhythm_pnn50"][30] == 0 and col["rhythm_lorenz_cells"][30] == 0
    assert col["pre_rr_local_median_ratio"][30] == pytest.approx(0.5 / 0.8)
    assert col["post_rr_local_median_ratio"][30] == pytest.approx(1.1 / 0.8)
    assert col["pre_rr_local_z"][30] < -10
    # inside the fibrillating stretch (beats 70 .. 110): irregular, and a short RR is no outlier there
    af = slice(70, 110)
    assert np.median(col["rhythm_rmssd_norm"][af]) > 0.2 > 0.05 > np.max(col["rhythm_rmssd_norm"][135:170])
    assert np.median(col["rhythm_pnn50"][af]) > 0.7 and np.max(col["rhythm_pnn50"][135:170]) == 0
    assert np.median(col["rhythm_lorenz_cells"][af]) > 0.7
    assert np.median(np.abs(col["pre_rr_local_z"][af])) < 2
    # the first beat has no pre RR; a record of three beats has too few neighbours for anything
    assert np.isnan(col["pre_rr_local_median_ratio"][0]) and np.isfinite(col["post_rr_local_median_ratio"][0])
    assert np.isnan(local_rhythm_features(times[:3])).all()
    with pytest.raises(ValueError, match="increase"):
        local_rhythm_features(times[::-1])
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    beats = np.zeros((180, 96))
    np.testing.assert_array_equal(beat_feature_columns(beats, _rr_of(times), times, ["pre_rr_local_z"])[:, 0],
                                  col["pre_rr_local_z"])


def test_the_cinc_sample_fibrillation_records_have_the_irregular_local_rhythm():
    import csv

    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.signal import preprocess
    from helpers import CINC_SAMPLE

    labels = dict(csv.reader(open(CINC_SAMPLE / "REFERENCE.csv", encoding="utf-8")))
    reader = open_dataset("cinc2017", CINC_SAMPLE)
    median = {"A": [], "N": []}
    for rid, label in labels.items():
        if label in median:
            record = reader.load(rid)
            beats = preprocess(record.lead(None), record.fs, path=record.path)
            X = local_rhythm_features(beats.rpeaks / float(beats.fs))
            median[label].append(np.nanmedian(_rhythm_column(X, "rhythm_rmssd_norm")))
    a, n = np.array(median["A"]), np.array(median["N"])
    assert len(a) >= 10 and len(n) >= 10
    # every fibrillation record above the median normal one, and most normal records under 0.05
    assert (a > np.median(n)).all() and np.mean(n < 0.05) > 0.8
    assert np.mean(a[:, None] > n[None, :]) > 0.9     # ranking (AUC) of records by the median normalised RMSSD


# --- sixth set: the T wave against the beat's own QRS and the record's median beat (run v50) ------------------

from ecgsl_keras.data.per_beat_features import T_WAVE_FEATURE_NAMES, T_WAVE_FEATURES, t_wave_features  # noqa: E402


def _t_column(X, name):
    return X[:, T_WAVE_FEATURE_NAMES.index(name)]


def test_t_wave_set_is_documented_new_and_asked_for_only():
    assert len(T_WAVE_FEATURE_NAMES) == len(set(T_WAVE_FEATURE_NAMES)) == len(T_WAVE_FEATURES)
    assert all(unit and meaning for unit, meaning in T_WAVE_FEATURES.values())
    others = (set(FEATURE_NAMES) | set(RR_CONTEXT_FEATURE_NAMES) | set(POPULATION_FEATURE_NAMES)
              | set(RHYTHM_FEATURE_NAMES) | set(MORPHOLOGY_FEATURE_NAMES))
    assert not set(T_WAVE_FEATURE_NAMES) & others
    # off by default: the shipped beat preset's booster takes none of them, so serving never computes them
    import json

    from ecgsl_keras.store import presets
    spec = json.loads((presets.preset_dir("mitdb-beats") / "stacking.json").read_text(encoding="utf-8"))
    assert not set(T_WAVE_FEATURE_NAMES) & set(spec["feature_names"])


@pytest.mark.parametrize("record_id", ["119", "208"])
def test_ventricular_beats_have_a_discordant_t_wave_inverted_against_the_normal_beats(record_id):
    beats, rr, labels = mitdb_beats(record_id)
    X = t_wave_features(beats)
    assert X.shape == (len(beats), len(T_WAVE_FEATURE_NAMES)) and np.isfinite(X).all()
    normal, ventricular = labels == N, labels == V
    med = {name: (np.median(_t_column(X, name)[normal]), np.median(_t_column(X, name)[ventricular]))
           for name in T_WAVE_FEATURE_NAMES}
    assert med["qrs_t_discordance"] == (-1.0, 1.0)          # normal T concordant with its QRS, a PVC's opposite
    assert med["t_polarity_median"] == (1.0, -1.0)          # a PVC's T inverted against the record's usual T
    assert med["qrs_t_product_norm"][0] > 0 > med["qrs_t_product_norm"][1]
    assert med["t_median_corr"][0] > 0.4 > 0 > med["t_median_corr"][1]
    assert med["t_width_norm"][1] > med["t_width_norm"][0]   # a wide secondary T
    # the usual beat is concordant on both records, so a discordant PVC reads +1 against it, a normal beat 0
    assert med["qrs_t_discordance_vs_median"] == (0.0, 1.0)
    # most PVCs discordant (all of 119's, 60% of 208's in these 90 s), almost no normal beat
    assert np.mean(_t_column(X, "qrs_t_discordance")[ventricular] == 1) >= 0.6
    assert np.mean(_t_column(X, "qrs_t_discordance")[normal] == 1) < 0.05


def test_t_wave_columns_of_one_real_beat_computed_by_hand():
    from ecgsl_keras.data import per_beat_features as module

    beats, _, labels = mitdb_beats("119")
    i = int(np.flatnonzero(labels == V)[0])
    centred = beats.astype(np.float64) - np.median(beats[:, module.BASELINE], axis=1, keepdims=True)
    median = np.median(centred, axis=0)
    qrs, t = centred[i, 24:41], centred[i, 52:92]                # R +- 80 ms; 200 .. 600 ms after R (R at 32)
    q, tt = qrs[np.argmax(np.abs(qrs))], t[np.argmax(np.abs(t))]
    mq = median[24:41][np.argmax(np.abs(median[24:41]))]
    mt = median[52:92][np.argmax(np.abs(median[52:92]))]
    X = t_wave_features(beats)
    assert q > 0 > tt and mt > 0                                 # this PVC: upright QRS, negative T; the usual T upright
    assert _t_column(X, "qrs_t_discordance")[i] == 1.0 and _t_column(X, "t_polarity_median")[i] == -1.0
    median_discordance = -np.sign(mq) * np.sign(mt)
    assert _t_column(X, "qrs_t_discordance_vs_median")[i] == (1.0 - median_discordance) / 2
    assert _t_column(X, "qrs_t_product_norm")[i] == pytest.approx(q * tt / mq ** 2)
    assert _t_column(X, "t_median_corr")[i] == pytest.approx(np.corrcoef(t, median[52:92])[0, 1])
    areas = np.abs(centred[:, 52:92]).mean(axis=1)
    assert _t_column(X, "t_area_norm")[i] == pytest.approx(np.abs(t).mean() / np.median(areas))
    # the same columns, asked for by name through the one entry point serving uses
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    rr = mitdb_beats("119")[1]
    got = beat_feature_columns(beats, rr, np.cumsum(rr[:, 0]), ["t_median_corr", "qrs_t_discordance"])
    np.testing.assert_array_equal(got, X[:, [T_WAVE_FEATURE_NAMES.index("t_median_corr"),
                                             T_WAVE_FEATURE_NAMES.index("qrs_t_discordance")]])


def test_a_flat_t_wave_has_no_sign_and_a_flat_record_no_columns():
    # a QRS spike and nothing after it: the sign, area, width and correlation columns are NaN, never a made-up 0
    beats = np.zeros((6, 96))
    beats[:, 32] = 1.0
    X = t_wave_features(beats)
    for name in ("qrs_t_discordance", "t_polarity_median", "t_area_norm", "t_width_norm", "t_median_corr",
                 "qrs_t_discordance_vs_median"):
        assert np.isnan(_t_column(X, name)).all(), name
    np.testing.assert_array_equal(_t_column(X, "qrs_t_product_norm"), 0.0)   # defined: a QRS times a zero T
    assert np.isnan(t_wave_features(np.zeros((4, 96)))).all()                # a flat record: nothing defined
    assert t_wave_features(np.zeros((0, 96))).shape == (0, len(T_WAVE_FEATURE_NAMES))
    with pytest.raises(ValueError, match="beats must be"):
        t_wave_features(np.zeros((3, 60)))

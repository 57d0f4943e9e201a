"""Regression pins: each shipped preset's output on one fixture record.

The expected numbers were computed once by the real preset models (ecgsl_keras/presets/<name>/model.keras,
CPU, TensorFlow float32) on the named fixture record and written here as constants: they are not the
output of the code under test in the same run. A change to a preset's weights, to its preprocessing
(filtering, R-peak detection, beat cutting, RR features) or to the layers' maths moves them.

Tolerance: atol 1e-4. float32 inference of these small models differs between CPU kernels and thread
counts (oneDNN / Eigen reduction order) by ~1e-6 on a probability and ~1e-5 on an unnormalised
embedding of magnitude ~1; a real change (one R-peak moved, one weight changed) moves them by >1e-3.
"""
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.store import presets
from helpers import preset_predictor

REPO = Path(__file__).resolve().parents[1]
# one xdist worker runs test_first_hour.py and test_presets.py (--dist loadgroup): the presets they load through
# helpers.preset_predictor (cached per process) are loaded and traced once, not once per worker
pytestmark = pytest.mark.xdist_group("presets")
CINC_SAMPLE = REPO / "ecgsl_keras" / "data" / "cinc2017_sample"
FIXTURES = REPO / "tests" / "fixtures"
ATOL = 1e-4


def test_every_shipped_preset_is_pinned():
    assert sorted(presets.list_presets(root=REPO / "ecgsl_keras" / "presets")) == \
        ["cinc2017", "cinc2017-edge", "cinc2017-keras", "cinc2017-stacked", "encoder", "mitdb-beats",
         "ptbxl-superdiagnostic"]


@pytest.fixture(scope="module")
def cinc2017_on_A04483():
    """``load_model("cinc2017").predict_signal`` on A04483, computed once: the pin below and the folder test
    both compare against it (the preset is a ten-network ensemble: loading it is the cost)."""
    from ecgsl_keras.data.readers import read_lead

    signal, fs, _ = read_lead(CINC_SAMPLE / "A04483")
    return preset_predictor("cinc2017").predict_signal(signal, fs)


def test_cinc2017_preset_on_record_A04483(cinc2017_on_A04483):
    """CinC 2017 sample record A04483 (reference label N, 30 s at 300 Hz): of the mixed deep side, ECG-SL (the 5
    fold models) says O and the 1-D ResNet (its 5 fold models) N; their mean, averaged with the record-features
    booster, says N. Booster probabilities are pinned like the networks' (LightGBM's text model gives the same sums
    of leaf values on every platform to ~1e-12)."""
    result = cinc2017_on_A04483
    assert result["n_beats"] == 58 and result["label"] == "N"
    # probabilities of N, A, O, ~
    ecgsl, resnet = result["deep_member_probabilities"]
    np.testing.assert_allclose(ecgsl, [0.40911326, 0.01164903, 0.55532163, 0.02391614], atol=ATOL, rtol=0)
    np.testing.assert_allclose(resnet, [0.85063994, 0.00628255, 0.1230668, 0.02001074], atol=ATOL, rtol=0)
    np.testing.assert_allclose(result["deep_probabilities"], 0.5 * (np.asarray(ecgsl) + np.asarray(resnet)), atol=1e-6)
    np.testing.assert_allclose(result["probabilities"], [0.7930539, 0.00448363, 0.1914805, 0.01098199],
                               atol=ATOL, rtol=0)
    np.testing.assert_allclose(result["attention_weights"][:4], [0.02587529, 0.02014155, 0.0212665, 0.03112372],
                               atol=ATOL, rtol=0)


def test_a_preset_folder_loads_like_its_name(cinc2017_on_A04483, capsys):
    """``load_model`` and ``ecgsl predict --model`` take a run or preset FOLDER (its model.keras, the stacked
    booster and deep members beside it) as they take the preset's name."""
    import json

    from ecgsl_keras.cli import predict as predict_cli
    from ecgsl_keras.serving.inference import load_model

    by_name = cinc2017_on_A04483
    capsys.readouterr()
    folder = presets.preset_dir("cinc2017")
    assert predict_cli.main(["--model", str(folder), "--record", str(CINC_SAMPLE / "A04483")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["label"] == by_name["label"] and out["format"] == "stacked(keras+keras[signal]+lightgbm)"
    np.testing.assert_allclose([out["probabilities"][k] for k in by_name["label_names"]], by_name["probabilities"],
                               atol=1e-3)         # the CLI prints 3 decimals
    with pytest.raises(Exception, match="no SavedModel.*no model.keras"):
        load_model(CINC_SAMPLE)                    # a folder of records, no model


def test_cinc2017_keras_preset_on_record_A04483():
    """The same record through the one-Keras-model hybrid (ECG-SL + record features as a second input)."""
    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.serving.inference import load_model

    signal, fs, _ = read_lead(CINC_SAMPLE / "A04483")
    result = load_model("cinc2017-keras").predict_signal(signal, fs)
    assert result["n_beats"] == 58 and result["label"] == "N"
    np.testing.assert_allclose(result["probabilities"], [0.8262026, 0.01478399, 0.137916, 0.02109748],
                               atol=ATOL, rtol=0)
    np.testing.assert_allclose(result["attention_weights"][:4], [0.00698788, 0.01816315, 0.02444773, 0.0240835],
                               atol=ATOL, rtol=0)


def test_cinc2017_edge_preset_on_record_A04483():
    """The edge preset (one ECG-SL model, the best of three v3 seeds on validation, experiments/edge/edge_preset.py,
    averaged with a rhythm member, experiments/edge/rhythm_member.py) on the same record. Its serving settings
    (issue 21) read the 60 s record as the end-to-end file does: two 30 s windows, probabilities averaged, R-peaks
    detected at 100 Hz. The attention is the ECG-SL member's, the same as before the rhythm member joined it."""
    from ecgsl_keras.data.readers import read_lead

    signal, fs, _ = read_lead(CINC_SAMPLE / "A04483")
    predictor = preset_predictor("cinc2017-edge")
    assert predictor.config.train.predict_window_s == 30.0 and not predictor.config.signal.detect_at_native_rate
    result = predictor.predict_signal(signal, fs)
    assert result["n_beats"] == 57 and result["n_windows"] == 2 and result["label"] == "N"
    np.testing.assert_allclose(result["probabilities"], [0.7246158, 0.00532029, 0.25957593, 0.01048789],
                               atol=ATOL, rtol=0)
    np.testing.assert_allclose(result["attention_weights"][:4], [0.01361877, 0.02058577, 0.01963226, 0.01556546],
                               atol=ATOL, rtol=0)
    meta = presets.metadata("cinc2017-edge", root=REPO / "ecgsl_keras" / "presets")
    assert meta["model_kind"] == "ecgsl" and meta["stage"] == "ensemble"
    assert meta["serving"] == {"train.predict_window_s": [0.0, 30.0], "signal.detect_at_native_rate": [True, False]}
    # its validation figures were measured through evaluate with those settings, and its card says so
    assert meta["validation"]["served_settings"] is True
    card = (REPO / "ecgsl_keras" / "presets" / "cinc2017-edge" / "README.md").read_text(encoding="utf-8")
    assert "validation figures above were measured with these served settings" in card
    assert meta["files"]["model.keras"]["sha256"] == "d116053369e3979a0b0439a891d334ded6971f39060675c805e8479b789aa17a"


def test_cinc2017_stacked_preset_on_record_A04483():
    """The same record through the stacking hybrid: its booster over the record features corrects the deep
    ensemble's O to the reference N. Booster probabilities are pinned like the network's (LightGBM's text
    model gives the same sums of leaf values on every platform to ~1e-12); the booster is the refit on today's
    record features (experiments/cinc2017/stacked_refit.py)."""
    pytest.importorskip("lightgbm")
    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.serving.inference import load_model

    signal, fs, _ = read_lead(CINC_SAMPLE / "A04483")
    result = load_model("cinc2017-stacked").predict_signal(signal, fs)
    assert result["n_beats"] == 58 and result["label"] == "N"
    np.testing.assert_allclose(result["deep_probabilities"], [0.40911326, 0.01164903, 0.55532163, 0.02391614],
                               atol=ATOL, rtol=0)
    np.testing.assert_allclose(result["probabilities"], [0.95704323, 2.2702538e-07, 0.042956479, 4.4368967e-08],
                               atol=ATOL, rtol=0)


def test_ptbxl_superdiagnostic_preset_on_fixture_record_1():
    """tests/fixtures/ptbxl record 1, lead V5 (the lead named in the preset's metadata)."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model

    lead = presets.metadata("ptbxl-superdiagnostic")["description"].split("lead ")[1].split(",")[0]
    assert lead == "V5"
    record = open_dataset("ptbxl", FIXTURES / "ptbxl", lead=lead).load("1")
    result = load_model("ptbxl-superdiagnostic").predict_signal(record.lead(None), record.fs, output="record")
    assert result["n_beats"] == 9 and list(result["label"]) == ["NORM"]
    # probabilities of NORM, MI, STTC, CD, HYP
    np.testing.assert_allclose(result["probabilities"], [0.82135266, 0.06273615, 0.01328492, 0.04061915, 0.0117504],
                               atol=ATOL, rtol=0)


def test_mitdb_beats_preset_on_record_119_first_30_s():
    """tests/fixtures/mitdb record 119 (MLII, 360 Hz), its first 30 s: 32 beats, 8 of them V. The ECG-SL per-beat
    model (``deep_beat_probabilities``; since run s33 the beat-minus-median model, ``beat_reference: "median"``)
    averaged beat by beat with the per-beat features booster."""
    assert preset_predictor("mitdb-beats").config.signal.beat_reference == "median"
    from ecgsl_keras.data.datasets import open_dataset

    record = open_dataset("mitdb", FIXTURES / "mitdb").load("119")
    signal = record.lead(None)[: int(30 * record.fs)]
    result = preset_predictor("mitdb-beats").predict_signal(signal, record.fs)
    assert result["n_beats"] == 32
    assert result["label_counts"] == {"N": 24, "S": 0, "V": 8, "F": 0, "Q": 0}
    assert result["beat_labels"][:10] == ["N", "V", "N", "N", "N", "N", "N", "V", "N", "N"]
    # per-beat probabilities of N, S, V, F, Q for the first three beats
    np.testing.assert_allclose(result["deep_beat_probabilities"][:3],
                               [[0.98728848, 0.00508155, 0.00528777, 0.00176282, 0.00057942],
                                [0.004393, 0.00362863, 0.97787577, 0.0021962, 0.01190635],
                                [0.98058355, 0.00910982, 0.00812606, 0.00150137, 0.00067919]], atol=ATOL, rtol=0)
    np.testing.assert_allclose(result["beat_probabilities"][:3],
                               [[0.65368718, 0.31877694, 0.01736259, 0.00971662, 0.00045669],
                                [0.00159174, 0.00160882, 0.9926849, 0.00111733, 0.00299718],
                                [0.98512119, 0.00353871, 0.00942121, 0.00172806, 0.00019082]], atol=ATOL, rtol=0)


def test_encoder_preset_on_record_A04483():
    """The masked-segment encoder on CinC record A04483's first 32 beats (cut with the preset's signal
    config): the beat embedding of the first two beats and the masked model's outputs. The preset masks at
    inference too, with a fixed seeded draw (SegmentMasking seed 42, mask_at_inference): 10 of 32 beats."""
    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.data.signal import preprocess

    model = presets.load("encoder")
    signal, fs, _ = read_lead(CINC_SAMPLE / "A04483")
    beats = preprocess(signal, fs, presets.signal_config("encoder"), path="A04483")
    assert len(beats.beats) == 58
    features = {"beats": beats.beats[None, :32].astype(np.float32), "rr": beats.rr[None, :32].astype(np.float32),
                "padding_mask": np.ones((1, 32), bool)}
    out = model(features, training=False)
    assert sorted(out) == ["mask_positions", "prediction", "rr_prediction", "rr_target", "target"]
    assert np.flatnonzero(np.asarray(out["mask_positions"])[0]).tolist() == [3, 4, 5, 6, 10, 11, 12, 13, 24, 25]
    embedding = np.asarray(model.get_layer("beat_encoder")(beats.beats[:2].astype(np.float32)))
    np.testing.assert_allclose(embedding[:, :6],
                               [[-0.10049222, 0.43717805, -0.51015216, -0.14465114, -0.13071798, -0.87108392],
                                [0.22763784, 0.45884389, -0.18640308, -0.15575802, 0.42600912, -0.20660715]],
                               atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(out["prediction"])[0, :2, :6],
                               [[0.62554598, -0.39668512, 0.14106026, -0.29661548, 0.42734227, -0.03795276],
                                [0.44786921, -0.24893346, 0.01715297, -0.19588332, 0.40397659, -0.08975589]],
                               atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(out["target"])[0, :2, :6],
                               [[-1.15623283, 0.40595126, -0.4981657, 0.40165555, -1.16505849, -2.07220054],
                                [0.94321787, -0.29845682, 0.10481080, -0.25592828, 0.46747971, 0.30362421]],
                               atol=ATOL, rtol=0)


def test_evaluate_cinc2017_edge_scores_what_predict_signal_gives(tmp_path):
    """``evaluate --model cinc2017-edge`` reads each record through ``predict_signal`` (its 30 s signal windows, as
    the end-to-end file), not through whole-record TFRecords: the long record A07742 (49.5 s, two windows) gets the
    probabilities ``predict_signal`` gives it."""
    import csv

    from ecgsl_keras.data.readers import read_lead
    from ecgsl_keras.evaluation.evaluate import evaluate_raw

    rows_csv = tmp_path / "rows.csv"
    out = evaluate_raw("cinc2017-edge", "cinc2017", CINC_SAMPLE, records=["A07742", "A04483", "A00205"],
                       progress=False, predictions=rows_csv)
    assert out["records"] == 3 and "deep" not in out and out["macro_f1"] is not None
    rows = {r["record"]: r for r in csv.DictReader(open(rows_csv, newline=""))}
    signal, fs, _ = read_lead(CINC_SAMPLE / "A07742")
    result = preset_predictor("cinc2017-edge").predict_signal(signal, fs)
    assert result["n_windows"] == 2
    np.testing.assert_allclose([float(rows["A07742"][f"p_{c}"]) for c in "NAO~"], result["probabilities"], atol=6e-4)

"""Per-beat models (MIT-BIH AAMI classes) end to end on the repo fixture (tests/fixtures/mitdb, records
119 and 208, 5 min each): the leave-records-out split, per-beat inference and predict, per-beat
export (SavedModel + TFLite float32) with the parity report, ``evaluate --model mitdb-beats``, and
the bad-input cases (per-beat vs record-level questions, multi-label model without thresholds)."""
import json
import shutil

import numpy as np
import pytest

from ecgsl_keras import tasks
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.cli import evaluate as evaluate_cli
from helpers import assert_metrics_match_confusion, export_experiment_config, save_run_folder, tiny_experiment_config

pytestmark = [
    # one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
    pytest.mark.xdist_group("test_mitdb_beats"),
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*shuffle=True. was passed:UserWarning"),
    pytest.mark.filterwarnings("ignore:Your input ran out of data:UserWarning"),
]


# --- the leave-records-out split (no TensorFlow) ---------------------------------------------------

def test_leave_records_out_folds_never_share_a_record_or_patient(fixtures_dir):
    from collections import Counter

    from ecgsl_keras.data.datasets.mitdb import MitdbReader, leave_records_out_folds, patient_groups

    reader = MitdbReader(fixtures_dir / "mitdb")
    counts = {rid: dict(Counter(reader.beat_annotations_for(rid).labels)) for rid in reader.record_ids()}
    # The fixture's two real records plus a DS1/DS2-like set with the one two-record subject (201, 202).
    counts.update({"201": {"N": 1625, "S": 128, "V": 198}, "202": {"N": 2061, "S": 55, "V": 19},
                   "209": {"N": 2621, "S": 383}, "106": {"N": 1507, "V": 520}, "115": {"N": 1953},
                   "223": {"N": 2045, "S": 73, "V": 473, "F": 14}})
    assert set(counts["208"]) >= {"N", "V", "F"}
    for n_folds in (2, 3):
        folds = leave_records_out_folds(counts, n_folds)
        assert len(folds) == n_folds and all(folds)
        flat = [rid for fold in folds for rid in fold]
        assert sorted(flat) == sorted(counts) and len(flat) == len(set(flat)), folds   # each record once
        for i, fold in enumerate(folds):
            others = {rid for j, f in enumerate(folds) if j != i for rid in f}
            assert not set(fold) & others
        assert any({"201", "202"} <= set(fold) for fold in folds), folds               # one subject, one side
    assert leave_records_out_folds(counts, 2) == leave_records_out_folds(dict(reversed(counts.items())), 2)
    assert sorted(map(sorted, patient_groups(["202", "115", "201"]))) == [["115"], ["201", "202"]]
    with pytest.raises(ConfigError):
        leave_records_out_folds({"201": {"N": 1}, "202": {"N": 1}}, 2)   # one subject cannot fill 2 folds


# --- per-beat inference, predict and export -------------------------------------------------------

@pytest.fixture(scope="module")
def mitdb_prepared(tmp_path_factory, fixtures_dir):
    from ecgsl_keras.data.prepare import prepare

    out = tmp_path_factory.mktemp("mitdb") / "prepared"
    prepare("mitdb", fixtures_dir / "mitdb", out, ExperimentConfig(), split="all", progress=False)
    return out


@pytest.fixture(scope="module")
def beat_run(tmp_path_factory):
    """An untrained per-beat classifier (seeded; its per-beat outputs are far from uniform, so the
    parity's class agreement is not decided by near-ties)."""
    import keras

    from ecgsl_keras.modeling import models

    keras.utils.set_random_seed(0)
    config = export_experiment_config()   # the default's inputs, a smaller graph: its export traces and converts faster
    model = models.build_beat_classifier(config.model, tasks.MITDB_AAMI)
    return save_run_folder(model, tmp_path_factory.mktemp("beat_run"), config, tasks.MITDB_AAMI)


@pytest.fixture(scope="module")
def record_208(fixtures_dir):
    from ecgsl_keras.data.datasets import open_dataset

    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    return record.lead("MLII"), record.fs   # the fixture's 5 minutes, as prepare reads them


def test_per_beat_inference_gives_one_label_per_beat_like_evaluate(beat_run, record_208, mitdb_prepared):
    from ecgsl_keras.evaluation import evaluate
    from ecgsl_keras.serving.inference import load_model

    predictor = load_model(beat_run / "model.keras")
    assert predictor.per_beat
    signal, fs = record_208
    result = predictor.predict_signal(signal, fs)
    n = result["n_beats"]
    assert n > 300 and result["n_windows"] >= 3      # 5 min of 208: several 128-beat windows
    assert len(result["beat_labels"]) == len(result["beat_times_s"]) == n
    assert result["beat_probabilities"].shape == (n, 5)
    np.testing.assert_allclose(result["beat_probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.diff(result["beat_times_s"]) > 0) and 0 <= result["beat_times_s"][0] < 2.0
    assert sum(result["label_counts"].values()) == n
    assert set(result["beat_labels"]) <= set(tasks.MITDB_AAMI.label_names)
    # Same per-beat probabilities as the TFRecord evaluation path (windows averaged per beat).
    model, config, task, _ = evaluate.load_model(beat_run)
    windows = evaluate.predict_windows(model, evaluate.eval_dataset(mitdb_prepared, "train", config, task))
    labelled = (windows["targets"] >= 0) & windows["padding_mask"]
    assert labelled.sum() > 0
    # record 208, its first stored chunk (256 beats): beats 0..255 of the raw signal path
    of_208 = windows["record_id"] == "208"
    first = of_208 & (windows["segment_start_s"] == windows["segment_start_s"][of_208].min())
    sums = np.zeros((256, 5))
    counts = np.zeros(256)
    for w in np.flatnonzero(first):
        start = int(windows["window_start"][w])
        real = windows["padding_mask"][w]
        sums[start:start + real.sum()] += windows["probabilities"][w][real]
        counts[start:start + real.sum()] += 1
    k = 192   # before prepare's first 256-beat chunk ends, both paths see the same windows
    np.testing.assert_allclose(result["beat_probabilities"][:k], (sums / counts[:, None])[:k], atol=2e-3)


def test_per_beat_and_record_level_questions_are_refused(beat_run, record_208, tmp_path, fixtures_dir, capsys):
    import keras

    from ecgsl_keras.modeling import models

    from ecgsl_keras.cli import predict
    from ecgsl_keras.serving.inference import load_model

    signal, fs = record_208
    beat_predictor = load_model(beat_run / "model.keras")
    with pytest.raises(ConfigError, match="labels each beat"):
        beat_predictor.predict_signal(signal, fs, output="record")
    # the tiny classifier: the refusals depend on the task, not on the model's size (building, saving and
    # loading the default-size models twice took most of this test's time)
    config = tiny_experiment_config()
    (tmp_path / "cinc").mkdir()
    (tmp_path / "ptbxl").mkdir()
    record_run = save_run_folder(models.build_classifier(config.model, tasks.CINC2017), tmp_path / "cinc", config,
                                 tasks.CINC2017)
    with pytest.raises(ConfigError, match="one label per record"):
        load_model(record_run / "model.keras").predict_signal(signal, fs, output="beats")
    # predict CLI: per-beat JSON, and the clear error for the wrong question
    record = str(fixtures_dir / "mitdb" / "119")
    assert predict.main(["--model", str(beat_run / "model.keras"), "--record", record]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_beats"] == len(out["beats"]) > 300 and set(out["beats"][0]) == {"time_s", "label", "probabilities"}
    assert predict.main(["--model", str(beat_run / "model.keras"), "--record", record, "--output", "record"]) == 2
    assert "labels each beat" in capsys.readouterr().err
    # a multi-label model without stored thresholds is refused (inference and export)
    ptbxl_run = save_run_folder(models.build_classifier(config.model, tasks.PTBXL_SUPERDIAGNOSTIC), tmp_path / "ptbxl",
                                config, tasks.PTBXL_SUPERDIAGNOSTIC)
    with pytest.raises(ConfigError, match="without stored decision thresholds") as caught:
        load_model(ptbxl_run / "model.keras")
    assert caught.value.reason == "missing_thresholds"
    from ecgsl_keras.serving.export import export_model

    with pytest.raises(ConfigError, match="without stored decision thresholds"):
        export_model(ptbxl_run / "model.keras", tmp_path / "export", formats=[])
    assert not (tmp_path / "export").exists()
    keras.backend.clear_session()


@pytest.mark.slow
def test_per_beat_export_tflite_matches_keras_on_the_fixture(beat_run, mitdb_prepared, record_208, tmp_path):
    from ecgsl_keras.serving.export import PARITY_LIMITS, export_model
    from ecgsl_keras.serving.inference import load_model

    out = tmp_path / "beats_export"
    report = export_model(beat_run / "model.keras", out, formats=["float32"], representative_data=mitdb_prepared,
                          examples=16)
    assert (out / "saved_model" / "saved_model.pb").is_file() and (out / "model_float32.tflite").is_file()
    metadata = json.loads((out / "ecgsl_metadata.json").read_text())
    assert metadata["kind"] == tasks.PER_BEAT and metadata["outputs"]["probabilities"]["shape"] == [None, 128, 5]
    for name in ("saved_model", "tflite_float32"):
        parity = report["parity"][name]
        assert parity["within_limits"], (name, parity)
        assert parity["max_abs_diff_probabilities"] <= PARITY_LIMITS[name]["max_abs_diff_probabilities"]
        assert parity["class_agreement"] >= PARITY_LIMITS[name]["class_agreement"]
        assert parity["beats"] > parity["examples"] > 1 and parity["max_abs_diff_attention"] is None
    # the exported files answer predict_signal with the Keras model's beat labels
    signal, fs = record_208
    reference = load_model(beat_run / "model.keras").predict_signal(signal, fs)
    for path in (out, out / "model_float32.tflite"):
        result = load_model(path).predict_signal(signal, fs)
        assert result["beat_labels"] == reference["beat_labels"], path
        np.testing.assert_allclose(result["beat_probabilities"], reference["beat_probabilities"], atol=1e-4)


# --- evaluate --model mitdb-beats -------------------------------------------------------------------

def test_evaluate_mitdb_beats_preset_on_the_fixture(fixtures_dir, tmp_path, capsys):
    from ecgsl_keras.store import presets as pretrained

    if "mitdb-beats" not in pretrained.list_presets():
        pytest.fail("the mitdb-beats preset is not shipped")
    # A folder with 119 as it is, 208 without the MLII lead (renamed), and a paced record listed in RECORDS.
    folder = tmp_path / "mitdb"
    folder.mkdir()
    for name in ("119.hea", "119.dat", "119.atr", "208.dat", "208.atr"):
        shutil.copy(fixtures_dir / "mitdb" / name, folder / name)
    (folder / "208.hea").write_text((fixtures_dir / "mitdb" / "208.hea").read_text().replace("MLII", "ML2"))
    (folder / "RECORDS").write_text("119\n208\n102\n")
    code = evaluate_cli.main(["--model", "mitdb-beats", "--dataset", "mitdb", "--data-dir", str(folder), "--no-progress"])
    assert code == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1   # stdout: the JSON line only; the table for people is on stderr
    result = json.loads(lines[-1])
    assert result["records"] == 1 and result["skipped"] == 1 and result["skipped_by_reason"] == {"missing_lead": 1}
    assert result["paced_records_excluded"] == ["102"]
    assert result["n"] > 300
    # accuracy, per-class F1, Se and +P agree with the confusion matrix (rows true, columns predicted)
    assert_metrics_match_confusion(result, list(tasks.MITDB_AAMI.label_names))
    matrix = np.asarray(result["confusion_matrix"], np.float64)
    assert matrix.sum() == result["n"]
    for i, name in enumerate(tasks.MITDB_AAMI.label_names):
        if matrix[i].sum():
            assert result["sensitivity"][name] == pytest.approx(matrix[i, i] / matrix[i].sum()), name
        if matrix[:, i].sum():
            assert result["positive_predictivity"][name] == pytest.approx(matrix[i, i] / matrix[:, i].sum()), name
    assert set(result["sensitivity"]) == set(tasks.MITDB_AAMI.label_names)
    table = captured.err
    assert "Se" in table and "+P" in table and "accuracy" in table
    # 119: 1543 N and 444 V beats in 30 min; the fixture's 5 min hold V beats the preset must find
    assert result["sensitivity"]["V"] is not None and result["sensitivity"]["V"] > 0.5


# --- the two imbalance methods measured on MIT-BIH --------------------------------------------------

def test_focal_loss_ignores_unlabelled_beats_and_class_weights_are_capped():
    from ecgsl_keras.modeling import models
    from ecgsl_keras.training.inputs import class_weights

    probabilities = np.array([[[0.7, 0.1, 0.1, 0.05, 0.05], [0.2, 0.5, 0.1, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2, 0.2]]],
                             np.float32)
    targets = np.array([[0, 1, -1]], np.int32)                      # the third beat is padding
    loss = models.loss_for_task(tasks.MITDB_AAMI, focal_gamma=2.0)
    expected = np.mean([-(0.3 ** 2) * np.log(0.7), -(0.5 ** 2) * np.log(0.5)])
    assert float(loss(targets, probabilities)) == pytest.approx(expected, rel=1e-5)
    plain = models.loss_for_task(tasks.MITDB_AAMI, focal_gamma=0.0)   # gamma 0: cross-entropy, same ignore rule
    assert float(plain(targets, probabilities)) == pytest.approx(np.mean([-np.log(0.7), -np.log(0.5)]), rel=1e-5)
    manifest = {"splits": {"train": {"label_counts": {"beat": {"beats": {"0": 45866, "1": 944, "2": 3788,
                                                                         "3": 415, "4": 8}}}}}}
    uncapped = class_weights(manifest, tasks.MITDB_AAMI)
    assert uncapped[4] > 1000                                          # 8 Q beats
    capped = class_weights(manifest, tasks.MITDB_AAMI, cap=20.0)
    assert capped.max() == 20.0 and capped[0] == pytest.approx(uncapped[0])


def test_ptbxl_superdiagnostic_preset_carries_its_thresholds(fixtures_dir):
    import keras

    from ecgsl_keras.store import presets as pretrained
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model

    predictor = load_model("ptbxl-superdiagnostic")
    assert predictor.task.name == "ptbxl-superdiagnostic" and predictor.thresholds.shape == (5,)
    assert np.all((predictor.thresholds > 0) & (predictor.thresholds < 1))
    assert "500-record subset" in (pretrained.preset_dir("ptbxl-superdiagnostic") / "README.md").read_text()
    lead = pretrained.metadata("ptbxl-superdiagnostic")["description"].split("lead ")[1].split(",")[0]
    record = open_dataset("ptbxl", fixtures_dir / "ptbxl", lead=lead).load("1")
    result = predictor.predict_signal(record.lead(None), record.fs, output="record")
    assert set(result["label"]) <= set(tasks.PTBXL_SUPERDIAGNOSTIC.label_names)
    assert result["probabilities"].shape == (5,)
    keras.backend.clear_session()


# --- the per-beat hybrid: ECG-SL averaged with a booster over per-beat features (issue 18) --------------------

def test_mitdb_beats_averages_ecgsl_with_the_per_beat_features_booster(fixtures_dir):
    """``mitdb-beats`` serves the ECG-SL per-beat model and a LightGBM booster over per-beat features of the same
    lead: each beat's probabilities are the spec's mean of the two, the booster's rows computed from the same beats
    (``per_beat_features.beat_feature_columns``)."""
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.per_beat_features import beat_feature_columns
    from ecgsl_keras.data.signal import own_beats
    from ecgsl_keras.serving.inference import load_model

    predictor = load_model("mitdb-beats")
    assert predictor.per_beat and predictor.lead == "MLII" and predictor.stacked.rows == "beat"
    assert predictor.format == "stacked(keras+lightgbm)"
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(120 * record.fs)]
    beats = predictor.preprocess(signal, record.fs)
    result = predictor.predict_signal(signal, record.fs, beats=beats)
    n = result["n_beats"]
    own = own_beats(beats.beats, predictor.config.signal)   # without a reference channel (beat_reference "median")
    X = beat_feature_columns(own, beats.rr, beats.rpeaks / beats.fs, predictor.stacked.feature_names,
                             signal=signal, fs=record.fs, rpeaks_native=beats.rpeaks_native,
                             config=predictor.config.signal)
    assert any(name.startswith("window_") for name in predictor.stacked.feature_names)   # the rhythm context
    booster = predictor.stacked.booster.predict(X).reshape(n, -1)
    w = predictor.stacked.deep_weight
    average = (1 - w) * booster + w * result["deep_beat_probabilities"]
    np.testing.assert_allclose(result["ungated_beat_probabilities"], average, atol=1e-6)
    # the shipped rhythm gate (stacking.json's gate) on the average: S moves to N where the AF evidence is high
    gate = predictor.stacked.gate
    assert (gate.feature, gate.source, gate.target) == ("window_af_afev", "S", "N")
    evidence = beat_feature_columns(own, beats.rr, beats.rpeaks / beats.fs, [gate.feature], signal=signal,
                                    fs=record.fs, rpeaks_native=beats.rpeaks_native, config=predictor.config.signal)
    np.testing.assert_array_equal(result["beat_gated"], evidence[:, 0] > gate.threshold)
    np.testing.assert_allclose(result["beat_probabilities"], gate.apply(average, evidence[:, 0])[0], atol=1e-6)
    assert result["beat_probabilities"].shape == (n, 5) and len(result["beat_labels"]) == n
    assert sum(result["label_counts"].values()) == n
    assert result["beat_labels"] == [predictor.label_names[i] for i in result["beat_probabilities"].argmax(1)]
    # 208 holds many V beats in its first two minutes: the booster and the average find them
    assert result["label_counts"]["V"] > 10 and (booster.argmax(1) == 2).sum() > 10
    with pytest.raises(ConfigError, match="labels each beat"):
        predictor.predict_signal(signal, record.fs, output="record")


def test_per_beat_booster_files_are_checked_by_name(tmp_path):
    from ecgsl_keras.serving.inference import load_model
    from ecgsl_keras.store import presets

    folder = tmp_path / "mitdb-beats"
    shutil.copytree(presets.preset_dir("mitdb-beats"), folder)
    spec = json.loads((folder / "stacking.json").read_text())
    (folder / "stacking.json").write_text(json.dumps(dict(spec, rows="record")))
    with pytest.raises(ConfigError, match="a gate is for per-beat rows"):   # the shipped spec has a gate
        load_model(folder)
    (folder / "stacking.json").write_text(json.dumps({k: v for k, v in dict(spec, rows="record").items()
                                                      if k != "gate"}))
    with pytest.raises(ConfigError, match="a V gate is for per-beat rows"):   # and a V gate (s39)
        load_model(folder)
    (folder / "stacking.json").write_text(json.dumps({k: v for k, v in dict(spec, rows="record").items()
                                                      if k not in ("gate", "v_gate")}))
    with pytest.raises(ConfigError, match="a v_pause rule is for per-beat rows"):   # and a pause rule (s34)
        load_model(folder)
    (folder / "stacking.json").write_text(json.dumps({k: v for k, v in dict(spec, rows="record").items()
                                                      if k not in ("gate", "v_gate", "v_pause")}))
    with pytest.raises(ConfigError, match="a v_template rule is for per-beat rows"):   # and a template vote (s35)
        load_model(folder)
    (folder / "stacking.json").write_text(json.dumps({k: v for k, v in dict(spec, rows="record").items()
                                                      if k not in ("gate", "v_gate", "v_pause", "v_template")}))
    with pytest.raises(ConfigError, match="per record cannot serve"):
        load_model(folder)
    (folder / "stacking.json").write_text(json.dumps(dict(spec, feature_names=spec["feature_names"][:-1] + ["x"])))
    with pytest.raises(ConfigError, match="stacking.json"):
        load_model(folder)
    (folder / "stacking.json").write_text(json.dumps(spec))
    (folder / "booster.txt.gz").write_bytes(b"not a booster")
    with pytest.raises(ConfigError, match="booster.txt.gz"):
        load_model(folder)


# --- the rhythm gate of a per-beat stacked model (stacking.json's "gate", run mitdb30) ---------------------------

def test_the_gate_round_trips_through_stacking_json(tmp_path):
    from ecgsl_keras.modeling.stacking import SPEC_NAME, Gate, StackedClassifier
    from ecgsl_keras.store import presets

    shipped = json.loads((presets.preset_dir("mitdb-beats") / SPEC_NAME).read_text())
    clf = StackedClassifier.load(presets.preset_dir("mitdb-beats"))
    assert isinstance(clf.gate, Gate) and clf.gate.to_spec() == shipped["gate"]
    clf.gate = Gate("rhythm_mad_norm", 1.25, "S", "N", clf.label_names)   # another computable feature
    clf.save(tmp_path)
    assert json.loads((tmp_path / SPEC_NAME).read_text())["gate"] == {"feature": "rhythm_mad_norm",
                                                                      "threshold": 1.25, "from": "S", "to": "N"}
    again = StackedClassifier.load(tmp_path)
    assert again.gate.to_spec() == clf.gate.to_spec()
    clf.gate = None                                                        # no gate: no key, as before the gate
    clf.save(tmp_path)
    assert "gate" not in json.loads((tmp_path / SPEC_NAME).read_text())
    assert StackedClassifier.load(tmp_path).gate is None


@pytest.fixture(scope="module")
def gated_copy(tmp_path_factory):
    """A copy of mitdb-beats whose stacking.json the tests rewrite, and the shipped spec."""
    from ecgsl_keras.store import presets

    folder = tmp_path_factory.mktemp("gated") / "mitdb-beats"
    shutil.copytree(presets.preset_dir("mitdb-beats"), folder)
    return folder, json.loads((folder / "stacking.json").read_text())


def test_the_gate_moves_s_to_n_above_its_threshold_on_a_fixture_signal(gated_copy, fixtures_dir):
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.serving.inference import load_model

    folder, spec = gated_copy
    record = open_dataset("mitdb", fixtures_dir / "mitdb").load("208")
    signal = record.lead(None)[: int(120 * record.fs)]

    def run(gate):
        (folder / "stacking.json").write_text(json.dumps(dict(spec, gate=gate) if gate else
                                                         {k: v for k, v in spec.items() if k != "gate"}))
        predictor = load_model(folder)
        return predictor.predict_signal(signal, record.fs)

    plain = run(None)                                       # no gate: today's answer, no gate keys
    assert "beat_gated" not in plain and "ungated_beat_probabilities" not in plain
    s, n = 1, 0
    assert (plain["beat_probabilities"][:, s] > 0).all()
    low = run(dict(spec["gate"], threshold=-1.0))           # below every beat's AF evidence (AFEv >= 0)
    gated = low["beat_gated"]
    assert gated.sum() > 0.9 * len(gated)                    # every beat whose 30 s window has an AFEv
    np.testing.assert_allclose(low["ungated_beat_probabilities"], plain["beat_probabilities"], atol=1e-6)
    assert (low["beat_probabilities"][gated, s] == 0).all()
    np.testing.assert_allclose(low["beat_probabilities"][gated, n],
                               plain["beat_probabilities"][gated, n] + plain["beat_probabilities"][gated, s], atol=1e-6)
    np.testing.assert_allclose(low["beat_probabilities"][~gated], plain["beat_probabilities"][~gated], atol=1e-6)
    np.testing.assert_allclose(low["beat_probabilities"].sum(axis=1), 1.0, atol=1e-5)
    assert "S" not in [label for label, g in zip(low["beat_labels"], gated) if g]
    # a changed label is a gated beat now called N (S, or another class that N + S now outweighs)
    changed = [i for i, (a, b) in enumerate(zip(plain["beat_labels"], low["beat_labels"])) if a != b]
    assert all(gated[i] and low["beat_labels"][i] == "N" for i in changed)
    high = run(dict(spec["gate"], threshold=1e9))           # above it: nothing changes
    assert not high["beat_gated"].any()
    np.testing.assert_array_equal(high["beat_probabilities"], plain["beat_probabilities"])
    assert high["beat_labels"] == plain["beat_labels"]


@pytest.mark.parametrize("gate, match", [
    ({"feature": "no_such_feature", "threshold": 31.0, "from": "S", "to": "N"}, "gate feature 'no_such_feature'"),
    ({"feature": "window_af_afev", "threshold": 31.0, "from": "X", "to": "N"}, "gate 'from' class 'X'"),
    ({"feature": "window_af_afev", "threshold": 31.0, "from": "S", "to": "S"}, "the same class"),
    ({"feature": "window_af_afev", "threshold": "high", "from": "S", "to": "N"}, "finite number"),
    ({"feature": "window_af_afev", "threshold": float("nan"), "from": "S", "to": "N"}, "finite number"),
    ({"feature": "window_af_afev", "threshold": 31.0, "from": "S"}, "keys"),
    ([31.0], "keys"),
])
def test_a_corrupt_gate_names_stacking_json(gated_copy, gate, match):
    from ecgsl_keras.serving.inference import load_model

    folder, spec = gated_copy
    (folder / "stacking.json").write_text(json.dumps(dict(spec, gate=gate)))
    with pytest.raises(ConfigError, match=match) as error:
        load_model(folder)
    assert error.value.path == str(folder / "stacking.json")

"""The rhythm member (``classifier.build_rhythm_member``, ``layers.RRStatistics``): every statistic against a NumPy
reference on padded batches, the member averaged with an ECG-SL classifier into one ensemble that saves, loads and
gives the attention of its ECG-SL member."""
import numpy as np
import pytest

import keras

from ecgsl_keras import tasks
from ecgsl_keras.config import ModelConfig
from ecgsl_keras.modeling import classifier, ensemble
from ecgsl_keras.modeling.layers import RRStatistics


def _reference(rr, local):
    """RRStatistics.NAMES of one record's real beats, in NumPy."""
    x = np.asarray(rr, np.float64)
    n = x.size
    mean, sd = x.mean(), x.std()
    safe = max(mean, 0.2)
    d = np.diff(x)
    rank = lambda v, q: np.sort(v)[int(np.round(q * (v.size - 1)))]  # noqa: E731
    median = rank(x, 0.5)
    sdsd = d.std() if d.size else 0.0
    sd1 = sdsd / np.sqrt(2)
    sd2 = np.sqrt(max(2 * sd ** 2 - sd1 ** 2, 0) + 1e-8)
    mid = x[1:-1]
    turning = ((mid > x[:-2]) & (mid > x[2:])) | ((mid < x[:-2]) & (mid < x[2:]))
    ratio = x / np.maximum(local, 0.2)
    return np.array([mean, sd, sd / safe, np.sqrt(np.mean(d ** 2)), np.sqrt(np.mean(d ** 2)) / safe, sdsd / safe,
                     np.mean(np.abs(d) > 0.05), np.mean(np.abs(d) > 0.02), np.mean(np.abs(d) > 0.15 * safe),
                     x.min(), x.max(), median, rank(x, 0.1) / median, rank(x, 0.9) / median,
                     (x.max() - x.min()) / median, rank(np.abs(d), 0.5) / median, np.abs(d).mean() / safe,
                     60 / safe, sd1 / safe, sd2 / safe, sd1 / max(sd2, 1e-3), turning.mean() if turning.size else 0.0,
                     ratio.std(), np.mean(np.abs(ratio - 1) > 0.15), ratio.max(), n])


def test_every_statistic_matches_numpy_on_padded_rows():
    rng = np.random.default_rng(0)
    steps = 40
    rr = np.zeros((3, steps, 3), np.float32)
    mask = np.zeros((3, steps), bool)
    real = {0: np.arange(30),                                   # padding at the end
            1: np.r_[0:5, 9:25, 30:40],                         # padding (dropped beats) in between
            2: np.arange(6)}
    expected = []
    for row, where in real.items():
        x = (0.8 + 0.25 * rng.standard_normal(where.size)).clip(0.3, 2.0) if row != 2 else np.tile([0.5, 1.0], 3)
        local = x + 0.05 * rng.standard_normal(where.size)
        rr[row, where, 0], rr[row, where, 2], mask[row, where] = x, local, True
        rr[row, ~mask[row], :] = 7.0                            # padding values never count
        expected.append(_reference(x.astype(np.float32), local.astype(np.float32)))
    got = np.asarray(RRStatistics()((rr, mask)))
    assert got.shape == (3, len(RRStatistics.NAMES))
    np.testing.assert_allclose(got, np.array(expected), rtol=2e-4, atol=2e-4)


def test_too_few_beats_give_zeros_not_nan():
    rr = np.full((1, 5, 3), 0.8, np.float32)
    got = np.asarray(RRStatistics()((rr, np.array([[True, False, False, False, False]]))))
    assert np.isfinite(got).all() and got[0, RRStatistics.NAMES.index("rmssd")] == 0
    with pytest.raises(ValueError, match="3 features"):
        RRStatistics()((np.zeros((1, 5, 2), np.float32), np.ones((1, 5), bool)))


def test_member_in_an_ensemble_saves_loads_and_keeps_ecgsl_attention(tmp_path):
    cfg = ModelConfig(d_model=16, embed_dim=16, ff_dim=32, num_heads=2, num_layers=1, conv_filters=(4, 8, 8),
                      head_units=16, attention_units=16, max_beats=16)
    ecgsl = classifier.build_classifier(cfg, tasks.CINC2017)
    n = len(RRStatistics.NAMES)
    member = classifier.build_rhythm_member(cfg, tasks.CINC2017, mean=[0.5] * n, variance=[2.0] * n)
    model = ensemble.build_ensemble([ecgsl, member])
    rng = np.random.default_rng(1)
    inputs = {"beats": rng.standard_normal((2, 16, 96)).astype(np.float32),
              "rr": rng.uniform(0.5, 1.2, (2, 16, 3)).astype(np.float32),
              "padding_mask": np.arange(16)[None, :] < np.array([[16], [9]])}
    p = np.asarray(model(inputs))
    np.testing.assert_allclose(p, (np.asarray(ecgsl(inputs)) + np.asarray(member(inputs))) / 2, atol=1e-6)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(inputs)), p, atol=1e-6)
    out = classifier.attention_model(loaded)(inputs)
    np.testing.assert_allclose(np.asarray(out["probabilities"]), p, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["attention_weights"]),
                               np.asarray(classifier.attention_model(ecgsl)(inputs)["attention_weights"]), atol=1e-6)
    with pytest.raises(ValueError, match="no member with"):
        classifier.attention_model(ensemble.build_ensemble([member, member]))
    with pytest.raises(ValueError, match="multiclass"):
        classifier.build_rhythm_member(cfg, tasks.PTBXL_SUPERDIAGNOSTIC, mean=[0.0] * n, variance=[1.0] * n)


def test_the_experiment_takes_the_ecgsl_member_out_of_a_shipped_ensemble(tmp_path, monkeypatch):
    """experiments/edge/rhythm_member.py's baseline and candidates start from the ECG-SL model alone: once the preset
    is the ensemble, its member that does not read rr_statistics (never the ensemble itself, which would nest the
    rhythm member twice)."""
    import shutil
    import sys
    import types
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "experiments" / "edge"))
    try:
        import rhythm_member
    finally:
        sys.path.remove(str(repo / "experiments" / "edge"))
    cfg = ModelConfig(d_model=16, embed_dim=16, ff_dim=32, num_heads=2, num_layers=1, conv_filters=(4, 8, 8),
                      head_units=16, attention_units=16, max_beats=16)
    ecgsl = classifier.build_classifier(cfg, tasks.CINC2017)
    n = len(RRStatistics.NAMES)
    preset = tmp_path / "preset"
    preset.mkdir()
    ensemble.build_ensemble([ecgsl, classifier.build_rhythm_member(cfg, tasks.CINC2017, [0.0] * n, [1.0] * n)]).save(
        preset / "model.keras")
    for name in ("config.json", "signal_config.json"):
        shutil.copy(rhythm_member.EDGE / name, preset / name)
    monkeypatch.setattr(rhythm_member.RhythmMember, "preset", preset)
    path = rhythm_member.RhythmMember(types.SimpleNamespace(work=tmp_path / "work")).ecgsl_alone()
    alone = keras.models.load_model(path, compile=False)
    assert (path.parent / "config.json").is_file()
    rng = np.random.default_rng(2)
    inputs = {"beats": rng.standard_normal((1, 16, 96)).astype(np.float32),
              "rr": rng.uniform(0.5, 1.2, (1, 16, 3)).astype(np.float32), "padding_mask": np.ones((1, 16), bool)}
    np.testing.assert_allclose(np.asarray(alone(inputs)), np.asarray(ecgsl(inputs)), atol=1e-6)


@pytest.mark.slow   # a TFLite conversion (~9 s)
def test_an_ensemble_with_a_rhythm_member_exports_to_builtin_tflite(tmp_path):
    """The export path of the edge preset (``export.write_saved_model`` of the ensemble's attention model, then
    ``export.convert_tflite``: builtin ops only) holds the member's ops; LiteRT gives the Keras probabilities and the
    ECG-SL member's attention on a padded row."""
    from ecgsl_keras.config import ExperimentConfig
    from ecgsl_keras.serving import export

    interpreter_lib = pytest.importorskip("ai_edge_litert.interpreter")
    cfg = ModelConfig(d_model=16, embed_dim=16, ff_dim=32, num_heads=2, num_layers=1, conv_filters=(4, 8, 8),
                      head_units=16, attention_units=16, max_beats=32)
    n = len(RRStatistics.NAMES)
    model = ensemble.build_ensemble([classifier.build_classifier(cfg, tasks.CINC2017),
                                     classifier.build_rhythm_member(cfg, tasks.CINC2017, [0.8] * n, [0.5] * n)])
    config = ExperimentConfig.from_dict({"model": cfg.to_dict()})
    export.write_saved_model(model, config, tmp_path / "saved_model")
    interpreter = interpreter_lib.Interpreter(model_content=export.convert_tflite(tmp_path / "saved_model", "float32"))
    rng = np.random.default_rng(3)
    inputs = {"beats": rng.standard_normal((1, 32, 96)).astype(np.float32),
              "rr": rng.uniform(0.4, 1.3, (1, 32, 3)).astype(np.float32),
              "padding_mask": np.arange(32)[None, :] < 21}
    got = interpreter.get_signature_runner(export.SERVING_SIGNATURE)(**inputs)
    want = classifier.attention_model(model)(inputs)
    np.testing.assert_allclose(got["probabilities"], np.asarray(want["probabilities"]), atol=1e-5)
    np.testing.assert_allclose(got["attention_weights"], np.asarray(want["attention_weights"]), atol=1e-5)


def _sample_entropy(x):
    """Sample entropy and COSEn as RRStatistics(entropy=True) defines them, by loops in NumPy."""
    x = np.asarray(x, np.float64)
    n = x.size
    if n < 4:
        return 0.0, 0.0
    r = max(0.2 * x.std(), 1e-3)
    starts = range(n - 2)
    close = lambda i, j, k: abs(x[i + k] - x[j + k]) <= r  # noqa: E731
    b = sum(1 for i in starts for j in starts if i < j and close(i, j, 0) and close(i, j, 1))
    a = sum(1 for i in starts for j in starts if i < j and close(i, j, 0) and close(i, j, 1) and close(i, j, 2))
    sampen = np.log(max(b, 1)) - np.log(max(a, 1))
    return sampen, sampen + np.log(2 * r) - np.log(max(x.mean(), 0.2))


def test_sample_entropy_and_cosen_match_loops_on_padded_rows(tmp_path):
    rng = np.random.default_rng(4)
    steps = 30
    rr = np.full((4, steps, 3), 7.0, np.float32)                 # padding values never count
    mask = np.zeros((4, steps), bool)
    rows = {0: (np.arange(30), (0.8 + 0.2 * rng.standard_normal(30)).clip(0.3, 2)),      # irregular
            1: (np.r_[0:4, 8:20], np.tile([0.6, 1.0], 8)),                               # bigeminy, beats dropped
            2: (np.arange(3), np.array([0.8, 0.9, 0.7])),                                # too few beats: 0
            3: (np.arange(25), 0.8 + 0.005 * rng.standard_normal(25))}                   # nearly regular
    for row, (where, x) in rows.items():
        rr[row, where, 0], rr[row, where, 2], mask[row, where] = x, x, True
    layer = RRStatistics(entropy=True)
    got = np.asarray(layer((rr, mask)))
    assert got.shape == (4, len(RRStatistics.NAMES) + 2) and layer.names[-2:] == RRStatistics.ENTROPY_NAMES
    np.testing.assert_allclose(got[:, :len(RRStatistics.NAMES)], np.asarray(RRStatistics()((rr, mask))), atol=1e-6)
    for row, (_, x) in rows.items():
        np.testing.assert_allclose(got[row, -2:], _sample_entropy(x.astype(np.float32)), atol=1e-4)
    assert got[0, -2] > got[1, -2]                                  # irregular above bigeminy
    assert RRStatistics.from_config(layer.get_config()).entropy

"""ecgsl_keras.evaluation.explain: tf-explain saliency of ECG-SL and the raw-signal ResNet on fixture records.

Untrained models on the default config: the checks are about the mapping from the model's inputs
back to the record's time axis (against an independent tf.GradientTape on the preprocessed signal),
the files written, and the error messages -- not about what a trained model looks at.
"""
import dataclasses
import json
import sys

import numpy as np
import pytest

from ecgsl_keras import tasks

from ecgsl_keras.evaluation import explain

from ecgsl_keras.evaluation import plot
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.data.readers import read_lead
from ecgsl_keras.cli import explain as explain_cli
from helpers import save_run_folder

RECORD = "A04483"      # 60 s normal rhythm
SHORT_RECORD = "A03565"  # 10.5 s


@pytest.fixture(scope="module")
def ecgsl_run(tmp_path_factory):
    import keras

    from ecgsl_keras.modeling import models

    keras.utils.set_random_seed(0)
    base = ExperimentConfig()   # a small model: the checks are about the mapping, not the model
    config = dataclasses.replace(base, model=dataclasses.replace(
        base.model, conv_filters=(8, 8, 8), embed_dim=16, d_model=16, num_heads=2, num_layers=1, ff_dim=32,
        attention_units=16, head_units=16))
    model = models.build_classifier(config.model, tasks.CINC2017)
    return save_run_folder(model, tmp_path_factory.mktemp("ecgsl"), config, tasks.CINC2017)


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory):
    import keras

    from ecgsl_keras.modeling import models

    keras.utils.set_random_seed(0)
    base = ExperimentConfig()
    config = dataclasses.replace(base, model=dataclasses.replace(base.model, resnet_filters=8, resnet_blocks=2,
                                                                 raw_samples=2000))
    model = models.build_resnet1d(config.model, tasks.CINC2017, input_samples=config.model.raw_samples)
    return save_run_folder(model, tmp_path_factory.mktemp("resnet"), config, tasks.CINC2017)


def _reference_gradient(ex, result, signal_model):
    """d mean-over-windows p_c / d (preprocessed signal), by tf.GradientTape through tf.gather."""
    import tensorflow as tf

    from ecgsl_keras.serving.inference import window_starts
    from ecgsl_keras.data.signal import preprocess

    n = signal_model.size
    if ex.kind == "resnet":
        samples = ex.model.inputs[0].shape[1]
        starts = window_starts(n, samples, samples)
    else:
        beats = preprocess(result.signal, result.fs, ex.config.signal)
        index = explain.beat_provenance(n, beats.rpeaks, ex.config.signal)
        max_beats, k = ex.config.model.max_beats, len(beats)
        assert k <= max_beats   # one window
        rr = tf.constant(np.concatenate([beats.rr, np.zeros((max_beats - k, beats.rr.shape[1]))])[None], tf.float32)
        mask = tf.constant((np.arange(max_beats) < k)[None])

    @tf.function   # (eager Conv1D backprop aborts in this TF build; tf-explain's cores are tf.functions too)
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            if ex.kind == "resnet":
                padded = tf.concat([x, tf.zeros([samples], tf.float32)], 0)
                windows = tf.stack([padded[s:s + samples] for s in starts])[..., None]
                probs = ex.model(windows, training=False)
            else:
                gathered = tf.gather(x, np.maximum(index, 0)) * (index >= 0)
                beats_in = tf.concat([gathered, tf.zeros([max_beats - k, index.shape[1]])], 0)[None]
                probs = ex.model({"beats": beats_in, "rr": rr, "padding_mask": mask}, training=False)
            score = tf.reduce_mean(probs[:, result.class_index])
        return tf.convert_to_tensor(tape.gradient(score, x))

    return gradient(tf.constant(signal_model, tf.float32)).numpy()


@pytest.mark.parametrize("which", ["ecgsl", "resnet"])
def test_vanilla_saliency_is_the_gradient_on_the_signal(which, ecgsl_run, resnet_run, cinc_dir):
    ex = explain.load(ecgsl_run if which == "ecgsl" else resnet_run)
    signal, fs, _ = read_lead(cinc_dir / RECORD)
    result = explain.saliency(ex, signal, fs, method="vanilla")
    assert result.saliency.shape == signal.shape and result.model_kind == which
    reference = _reference_gradient(ex, result, result.model_signal)
    np.testing.assert_allclose(result.model_saliency, reference, atol=1e-6 * np.abs(reference).max() + 1e-9)
    assert np.abs(result.model_saliency).max() > 0
    if which == "ecgsl":
        # the beats are exactly the preprocessed signal at the provenance indices
        from ecgsl_keras.data.signal import preprocess

        beats = preprocess(signal, fs)
        index = explain.beat_provenance(beats.signal.size, beats.rpeaks, ExperimentConfig().signal)
        np.testing.assert_array_equal(beats.signal[index], beats.beats)
        assert result.attention is not None and abs(result.attention.sum() - 1) < 1e-5
        # before the first beat's window: no saliency
        first = int(round(result.beat_windows_s[0, 0] * fs))
        assert np.all(result.saliency[:max(first - 3, 0)] == 0)
    else:
        assert result.attention is None and result.n_windows == 3   # 6000 samples at 100 Hz in 2000-sample windows


def test_integrated_gradients_complete(resnet_run, cinc_dir):
    """Integrated gradients (tf-explain's path, times the input) sum to about p(x) - p(0)."""
    ex = explain.load(resnet_run)
    signal, fs, _ = read_lead(cinc_dir / SHORT_RECORD)
    result = explain.saliency(ex, signal, fs, method="integrated")
    samples = ex.model.inputs[0].shape[1]
    p0 = float(ex.model.predict_on_batch(np.zeros((1, samples, 1), np.float32))[0, result.class_index])
    gain = float(result.probabilities[result.class_index]) - p0
    assert abs(result.model_saliency.sum() - gain) <= 0.1 * abs(gain) + 1e-4


def test_explain_cli_writes_png_and_npz(ecgsl_run, cinc_dir, tmp_path, capsys, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(explain, "SMOOTHGRAD_SAMPLES", 4)

    from ecgsl_keras.serving.inference import load_model

    record = str(cinc_dir / RECORD)
    assert explain_cli.main(["--model", str(ecgsl_run), "--record", record, "--method", "smoothgrad",
                         "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    signal, fs, _ = read_lead(record)
    saved = np.load(out["npz"])
    assert saved["saliency"].shape == signal.shape and np.isfinite(saved["saliency"]).all()
    assert saved["attention"].size == out["n_beats"] == saved["rpeaks"].size
    # same probabilities as predict
    expected = load_model(ecgsl_run / "model.keras").predict_signal(signal, fs)["probabilities"]
    np.testing.assert_allclose(list(out["probabilities"].values()), expected, atol=1e-5)
    with Image.open(out["png"]) as image:
        # the record and the zoomed 5-s strip under it
        assert image.size == (int(plot.ZOOMED_RECORD_FIGSIZE[0] * plot.DPI),
                              int(plot.ZOOMED_RECORD_FIGSIZE[1] * plot.DPI))
    assert out["attention_entropy"] <= out["uniform_entropy"] + 1e-6


def test_explain_bad_input(ecgsl_run, cinc_dir, tmp_path, capsys, monkeypatch):
    import wfdb

    signal, fs, _ = read_lead(cinc_dir / RECORD)
    wfdb.wrsamp("short", fs=fs, units=["mV"], sig_name=["I"], p_signal=signal[: int(fs)].reshape(-1, 1).astype(float),
                fmt=["16"], write_dir=str(tmp_path))
    assert explain_cli.main(["--model", str(ecgsl_run), "--record", str(tmp_path / "short"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "short" in err and "under the minimum" in err and "Traceback" not in err
    # without the extra: which pip install to run
    monkeypatch.setitem(sys.modules, "tf_explain.core.vanilla_gradients", None)
    assert explain_cli.main(["--model", str(ecgsl_run), "--record", str(cinc_dir / RECORD), "--out", str(tmp_path)]) == 2
    assert 'pip install -e ".[explain]"' in capsys.readouterr().err


def test_wave_regions_and_shares(cinc_dir):
    from ecgsl_keras.data.signal import clean, preprocess

    signal, fs, _ = read_lead(cinc_dir / RECORD)
    beats = preprocess(signal, fs)
    regions, coverage = explain.wave_regions(clean(signal, fs), fs, beats.rpeaks_native)
    assert regions.shape == signal.shape and set(np.unique(regions)) <= {0, 1, 2, 3}
    assert coverage["p_wave"] > 0.8 and coverage["st_t"] > 0.8   # a clean normal record
    assert np.all(regions[beats.rpeaks_native] == 2)              # every R-peak inside its QRS
    shares = explain.region_shares(np.ones(signal.size), regions)
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert abs(shares["qrs"] - np.mean(regions == 2)) < 1e-9

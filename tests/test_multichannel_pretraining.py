"""Stages 1 and 2 on beats with reference channels (``SignalConfig.beat_reference``; issue 18, run af42): the
autoencoder rebuilds every channel, the masked stage predicts the stage-1 embedding of C-channel beats; on the
CinC sample records' three-channel ``tq_median`` beats."""
import keras
import numpy as np
import pytest

from ecgsl_keras.config import ModelConfig, SignalConfig
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.data.signal import preprocess
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.modeling import models
from helpers import CINC_SAMPLE, TINY_MODEL

CONFIG = SignalConfig(beat_reference="tq_median")
THREE = ModelConfig(**TINY_MODEL, beat_channels=CONFIG.beat_channels)


@pytest.fixture(scope="module")
def sequences():
    """A padded batch of 4 CinC sample records' three-channel beats (24 beats at most)."""
    reader = open_dataset("cinc2017", CINC_SAMPLE)
    t, records = 24, []
    for record_id in reader.record_ids()[:4]:
        record = reader.load(record_id)
        records.append(preprocess(record.lead(None), record.fs, CONFIG, path=record.path))
    beats = np.zeros((len(records), t, CONFIG.beat_width), np.float32)
    rr = np.zeros((len(records), t, CONFIG.n_rr_features), np.float32)
    mask = np.zeros((len(records), t), bool)
    for i, r in enumerate(records):
        n = min(len(r.beats), t)
        beats[i, :n], rr[i, :n], mask[i, :n] = r.beats[:n], r.rr[:n], True
    return {"beats": beats, "rr": rr, "padding_mask": mask}


def test_three_channel_autoencoder_trains_saves_and_loads(sequences, tmp_path):
    beats = sequences["beats"][sequences["padding_mask"]]
    assert beats.shape[1] == 3 * THREE.beat_len and np.abs(beats[:, 2 * THREE.beat_len:]).max() > 0
    keras.utils.set_random_seed(0)
    autoencoder = models.build_beat_autoencoder(THREE)
    assert autoencoder.output.shape == (None, THREE.beat_width)
    # the flat output is laid out as the input: channel c of the decoder's last convolution is samples c*L..(c+1)*L
    decoder = autoencoder.get_layer("beat_decoder")
    per_channel = keras.Model(decoder.input, decoder.get_layer("decoder_conv_3").output)
    z = np.random.default_rng(0).normal(size=(2, THREE.embed_dim)).astype(np.float32)
    laid = np.asarray(per_channel.predict(z, verbose=0))
    flat = np.asarray(decoder.predict(z, verbose=0))
    for c in range(3):
        np.testing.assert_allclose(flat[:, c * THREE.beat_len:(c + 1) * THREE.beat_len], laid[:, :, c], atol=1e-6)
    autoencoder.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", run_eagerly=True)   # no trace: cheaper
    before = autoencoder.evaluate(beats, beats, verbose=0)
    for _ in range(8):
        autoencoder.train_on_batch(beats, beats)
    after = autoencoder.evaluate(beats, beats, verbose=0)
    assert after < before                                        # the loss is the MSE over all three channels
    expected = np.mean((np.asarray(autoencoder.predict(beats, verbose=0)) - beats) ** 2)
    assert after == pytest.approx(expected, rel=1e-4)
    autoencoder.save(tmp_path / "ae.keras")
    loaded = keras.models.load_model(tmp_path / "ae.keras")
    np.testing.assert_allclose(loaded.predict(beats, verbose=0), autoencoder.predict(beats, verbose=0), atol=1e-6)


def test_three_channel_masked_model_trains_saves_and_loads(sequences, tmp_path):
    keras.utils.set_random_seed(1)
    autoencoder = models.build_beat_autoencoder(THREE)
    real = sequences["padding_mask"]
    stats = models.target_statistics(autoencoder, sequences["beats"][real], sequences["rr"][real])
    model = models.build_masked_model(THREE, autoencoder, seed=3, target_stats=stats)
    np.testing.assert_array_equal(model.get_layer(models.TARGET_ENCODER).get_weights()[0],
                                  autoencoder.get_layer("beat_encoder").get_weights()[0])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)   # no trace of the train step: cheaper
    y = sequences["beats"]
    before = model.evaluate(sequences, y, verbose=0)              # evaluation masks a fixed seeded draw
    for _ in range(4):
        model.train_on_batch(sequences, y)
    assert model.evaluate(sequences, y, verbose=0) < before
    model.save(tmp_path / "masked.keras")
    loaded = keras.models.load_model(tmp_path / "masked.keras", compile=False)
    assert isinstance(loaded, models.MaskedSegmentModel) and loaded.rr_weight == model.rr_weight
    ours, theirs = model.predict_on_batch(sequences), loaded.predict_on_batch(sequences)
    for key in ("prediction", "target", "mask_positions"):
        np.testing.assert_allclose(theirs[key], ours[key], atol=1e-5, err_msg=key)
    # the raw-sample target rebuilds every channel
    raw = models.build_masked_model(ModelConfig(**TINY_MODEL, beat_channels=3, masked_target="beats"), seed=3)
    assert raw.output["reconstruction"].shape[-1] == THREE.beat_width


def test_a_channel_mismatch_names_the_channels():
    one = ModelConfig(**TINY_MODEL)
    with pytest.raises(ConfigError, match="reads 1 channel\\(s\\) of 96 samples, the config has beat_channels 3"):
        models.build_masked_model(THREE, models.build_beat_autoencoder(one))
    with pytest.raises(ConfigError, match="reads 3 channel\\(s\\) of 96 samples, the config has beat_channels 1"):
        models.build_masked_model(one, models.build_beat_autoencoder(THREE))
    # a three-channel pre-trained encoder for a one-channel classifier: no channel is dropped
    from ecgsl_keras import tasks

    with pytest.raises(ConfigError, match="reads 3 channels, this model's 1"):
        models.build_classifier(one, tasks.CINC2017, pretrained=models.build_beat_autoencoder(THREE))

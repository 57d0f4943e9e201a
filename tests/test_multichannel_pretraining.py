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


def test_start_from_warm_starts_the_pretraining_stages_on_more_channels(sequences, tmp_path):
    """``train --start-from`` (af43): a one-channel masked model's weights start the three-channel stages; the
    first convolution takes its kernel for channel 0 and zeros for the new channels; the masked stage keeps the
    beat encoder, its frozen copy and the target statistics it took from ``--init-from``."""
    from ecgsl_keras.training import trainer
    from ecgsl_keras.training.stages import get_stage

    one = ModelConfig(**TINY_MODEL)
    keras.utils.set_random_seed(2)
    source = models.build_masked_model(one, models.build_beat_autoencoder(one), seed=3)
    source.save(tmp_path / "one.keras")
    src = source.get_layer("beat_encoder").get_layer("encoder_conv_1").get_weights()[0]

    autoencoder = models.build_beat_autoencoder(THREE)
    copied = trainer._warm_start(get_stage("autoencoder"), autoencoder, tmp_path / "one.keras", THREE.beat_len)
    assert "encoder_conv_1" in copied and not any(name.startswith("decoder") for name in copied)
    kernel = autoencoder.get_layer("beat_encoder").get_layer("encoder_conv_1").get_weights()[0]
    np.testing.assert_array_equal(kernel[:, :1], src)
    assert not kernel[:, 1:].any()

    real = sequences["padding_mask"]
    stats = models.target_statistics(autoencoder, sequences["beats"][real], sequences["rr"][real])
    masked = models.build_masked_model(THREE, autoencoder, seed=3, target_stats=stats)
    kept = {name: masked.get_layer(name).get_weights() for name in ("beat_encoder", "target_encoder",
                                                                     "target_normalization")}
    copied = trainer._warm_start(get_stage("masked"), masked, tmp_path / "one.keras", THREE.beat_len)
    assert "transformer_block_1" in copied and "prediction" in copied and "beat_encoder" not in copied
    for name, weights in kept.items():
        for ours, before in zip(masked.get_layer(name).get_weights(), weights):
            np.testing.assert_array_equal(ours, before, err_msg=name)
    for ours, theirs in zip(masked.get_layer("transformer_block_1").get_weights(),
                            source.get_layer("transformer_block_1").get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(ConfigError, match="--start-from warm-starts the ECG-SL pre-training stages"):
        trainer.train("finetune", tmp_path, tmp_path / "run", start_from=tmp_path / "one.keras",
                      init_from=tmp_path / "one.keras")

"""SignalConfig.beat_reference (issue 18, run v37): each beat also carries itself minus its record's median beat, a
second channel of the beat encoder; on the MIT-BIH fixture record 208 (PVCs among normal beats)."""
import dataclasses

import numpy as np
import pytest

from ecgsl_keras import tasks
from ecgsl_keras.config import ExperimentConfig, ModelConfig, SignalConfig
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.data.prepare import match_beat_labels
from ecgsl_keras.data.signal import preprocess, with_reference
from ecgsl_keras.errors import ConfigError
from helpers import MITDB_FIXTURE, TINY_MODEL


@pytest.fixture(scope="module")
def record_208():
    record = open_dataset("mitdb", MITDB_FIXTURE).load("208")
    return record, record.lead(None)[: int(60 * record.fs)]


def test_median_reference_is_the_beat_then_the_beat_minus_the_record_median(record_208):
    record, signal = record_208
    plain = preprocess(signal, record.fs, SignalConfig())
    config = SignalConfig(beat_reference="median")
    rel = preprocess(signal, record.fs, config)
    n, L = plain.beats.shape
    assert (config.beat_channels, config.beat_width) == (2, 2 * L)
    assert rel.beats.shape == (n, 2 * L) and rel.beats.dtype == np.float32
    np.testing.assert_array_equal(rel.beats[:, :L], plain.beats)     # channel 0: the beat as before
    np.testing.assert_allclose(rel.beats[:, L:], plain.beats - np.median(plain.beats, axis=0), atol=1e-6)
    np.testing.assert_array_equal(rel.rpeaks, plain.rpeaks)
    # what the channel is for: 208's PVCs differ from the record's usual beat far more than its normal beats do
    y = match_beat_labels(rel.rpeaks_native, record.beat_annotations, tasks.MITDB_AAMI, record.fs)
    names = tasks.MITDB_AAMI.label_names
    size = np.abs(rel.beats[:, L:]).mean(axis=1)
    n_beats, v_beats = size[y == names.index("N")], size[y == names.index("V")]
    assert len(n_beats) > 20 and len(v_beats) > 5
    assert np.median(v_beats) > 1.5 * np.median(n_beats)


def test_with_reference_none_and_empty_and_bad():
    beats = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert with_reference(beats) is not None and with_reference(beats).shape == (3, 4)
    assert with_reference(np.zeros((0, 4), np.float32), "median").shape == (0, 8)
    with pytest.raises(ConfigError, match="beat_reference"):
        with_reference(beats, "mean")


def test_config_refuses_an_unknown_reference_and_mismatched_channels():
    with pytest.raises(ConfigError, match="beat_reference"):
        SignalConfig(beat_reference="mean").validate()
    config = ExperimentConfig(signal=SignalConfig(beat_reference="median"))
    with pytest.raises(ConfigError, match="beat_channels"):
        config.validate()
    ExperimentConfig(signal=config.signal, model=ModelConfig(beat_channels=2)).validate()


@pytest.mark.slow
def test_two_channel_beat_classifier_reads_the_channels_apart(record_208):
    import keras

    from ecgsl_keras.modeling.beat_encoder import build_beat_autoencoder, build_beat_encoder
    from ecgsl_keras.modeling.classifier import build_beat_classifier

    record, signal = record_208
    beats = preprocess(signal, record.fs, SignalConfig(beat_reference="median"))
    cfg = ModelConfig(**TINY_MODEL, beat_channels=2)
    keras.utils.set_random_seed(0)
    model = build_beat_classifier(cfg, tasks.MITDB_AAMI)
    t = 32
    x = {"beats": beats.beats[None, :t], "rr": beats.rr[None, :t], "padding_mask": np.ones((1, t), bool)}
    p = np.asarray(model.predict(x, verbose=0))
    assert p.shape == (1, t, tasks.MITDB_AAMI.num_classes)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    # the encoder sees (beat_len, 2): sample i of channel 1 is input i + beat_len, not input 2i + 1
    encoder = build_beat_encoder(cfg)
    seen = keras.Model(encoder.input, encoder.get_layer("encoder_channel").output)
    laid = np.asarray(seen.predict(beats.beats[:2], verbose=0))
    np.testing.assert_array_equal(laid[:, :, 0], beats.beats[:2, :cfg.beat_len])
    np.testing.assert_array_equal(laid[:, :, 1], beats.beats[:2, cfg.beat_len:])
    assert build_beat_autoencoder(cfg).output.shape == (None, cfg.beat_width)   # it rebuilds both channels


def test_the_edge_graph_refuses_the_reference():
    from ecgsl_keras.serving.edge import check_config

    check_config(SignalConfig())
    with pytest.raises(ConfigError, match="beat_reference"):
        check_config(dataclasses.replace(SignalConfig(), beat_reference="median"))


def test_init_from_a_one_channel_model_starts_at_its_outputs():
    """``--init-from`` a one-channel pre-trained model for beats with the median reference (run af38): every
    matching weight is copied and the first convolution's kernel gets zeros for the new channel, so the
    2-channel classifier gives the 1-channel one's outputs on the same CinC fixture beats."""
    import keras

    from ecgsl_keras.modeling import models, transfer
    from helpers import cinc_beats

    one = ModelConfig(**TINY_MODEL)
    two = ModelConfig(**TINY_MODEL, beat_channels=2)
    keras.utils.set_random_seed(3)
    masked = models.build_masked_model(one, models.build_beat_autoencoder(one))
    clf1 = models.build_classifier(one, tasks.CINC2017, pretrained=masked)
    clf2 = models.build_classifier(two, tasks.CINC2017, pretrained=clf1)
    kernel1 = clf1.get_layer("temporal_encoder").get_layer("beat_encoder").get_layer("encoder_conv_1").get_weights()
    kernel2 = clf2.get_layer("temporal_encoder").get_layer("beat_encoder").get_layer("encoder_conv_1").get_weights()
    assert kernel2[0].shape == (one.conv_kernel, 2, one.conv_filters[0])
    np.testing.assert_array_equal(kernel2[0][:, :1], kernel1[0])
    assert not kernel2[0][:, 1:].any()                       # the new channel starts with no say
    np.testing.assert_array_equal(kernel2[1], kernel1[1])

    t = 24
    records = cinc_beats(4)
    plain = np.zeros((len(records), t, one.beat_len), np.float32)
    rel = np.zeros((len(records), t, two.beat_width), np.float32)
    rr = np.zeros((len(records), t, 3), np.float32)
    mask = np.zeros((len(records), t), bool)
    for i, (_, _, beats, r, _) in enumerate(records):
        n = min(len(beats), t)
        plain[i, :n], rel[i, :n], rr[i, :n], mask[i, :n] = beats[:n], with_reference(beats, "median")[:n], r[:n], True
    assert np.abs(rel[mask][:, one.beat_len:]).max() > 0.01   # the relative channel is not empty
    p1 = np.asarray(clf1.predict({"beats": plain, "rr": rr, "padding_mask": mask}, verbose=0))
    p2 = np.asarray(clf2.predict({"beats": rel, "rr": rr, "padding_mask": mask}, verbose=0))
    np.testing.assert_allclose(p2, p1, atol=1e-6)
    # straight from the pre-trained (masked) model: the same temporal encoder states as the 1-channel classifier
    direct = models.build_classifier(two, tasks.CINC2017, pretrained=masked)
    h1 = clf1.get_layer("temporal_encoder")({"beats": plain, "rr": rr, "padding_mask": mask})
    h2 = direct.get_layer("temporal_encoder")({"beats": rel, "rr": rr, "padding_mask": mask})
    np.testing.assert_allclose(np.asarray(h2), np.asarray(h1), atol=1e-5)
    # off unless the channels differ: same channels copy as before, and nothing shrinks a 2-channel encoder
    assert transfer.beat_channels_of(clf2, two.beat_len) == 2 and transfer.beat_channels_of(clf1, one.beat_len) == 1
    assert "encoder_conv_1" not in transfer.transfer_weights(clf1, models.build_classifier(two, tasks.CINC2017))
    with pytest.raises(ConfigError, match="gave no weights for \\['beat_encoder'\\]"):
        models.build_classifier(one, tasks.CINC2017, pretrained=clf2)


def test_train_accepts_only_an_added_reference_from_a_one_channel_init_model():
    from ecgsl_keras.training.trainer import _reference_added

    plain = SignalConfig().to_dict()
    rel = SignalConfig(beat_reference="median").to_dict()
    assert _reference_added(plain, rel)
    assert not _reference_added(rel, plain)                   # no channel to drop
    assert not _reference_added(plain, plain)
    other = dataclasses.replace(SignalConfig(beat_reference="median"), beat_len=64).to_dict()
    assert not _reference_added(plain, other)                 # other beats too: the usual refusal

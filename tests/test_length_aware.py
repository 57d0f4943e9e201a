"""Length-aware batching (issue 22): batches padded to their longest sequence give the same
per-example outputs as batches padded to ``max_beats``, the reader pads to the longest sequence
(a two-replica step with replicas of different lengths: tests/test_two_replicas.py)."""
import dataclasses

import numpy as np
import pytest

from ecgsl_keras import tasks
from ecgsl_keras.config import ModelConfig
from ecgsl_keras.modeling import models
from helpers import REPO, cinc_beats

MAX_BEATS = 128
# Small but complete: every layer of the full model, two blocks, RR features and attention pooling.
CFG = ModelConfig(embed_dim=16, conv_filters=(8, 8, 8), d_model=32, num_heads=2, ff_dim=32, num_layers=2,
                  attention_units=16, head_units=16, max_beats=MAX_BEATS, dropout=0.1)


def _pad(records, steps):
    """Records ``[(beats (n, L), rr (n, 3))]`` as one batch padded to ``steps`` beats."""
    beat_len, n_rr = records[0][0].shape[1], records[0][1].shape[1]
    beats = np.zeros((len(records), steps, beat_len), np.float32)
    rr = np.zeros((len(records), steps, n_rr), np.float32)
    mask = np.zeros((len(records), steps), bool)
    for i, (b, r) in enumerate(records):
        n = min(len(b), steps)
        beats[i, :n], rr[i, :n], mask[i, :n] = b[:n], r[:n], True
    return {"beats": beats, "rr": rr, "padding_mask": mask}


@pytest.fixture(scope="module")
def mixed():
    """Real CinC records cut to mixed lengths (5..50 beats, as long as they are): (padded to the longest, padded to 128)."""
    records = [(b[:n], r[:n]) for (_, _, b, r, _), n in zip(cinc_beats(6), (50, 5, 23, 36, 12, 31))]
    longest = max(len(b) for b, _ in records)
    short, full = _pad(records, longest), _pad(records, MAX_BEATS)
    assert short["beats"].shape[1] < MAX_BEATS and len({len(b) for b, _ in records}) == len(records)
    return short, full


def _close(a, b, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-4)


def test_classifier_same_outputs_mixed_lengths_and_padded(mixed):
    short, full = mixed
    model = models.build_classifier(CFG, tasks.CINC2017)
    _close(model(short, training=False), model(full, training=False))
    attention = models.attention_model(model)
    a_short, a_full = attention(short, training=False), attention(full, training=False)
    _close(a_short["attention_weights"], np.asarray(a_full["attention_weights"])[:, :short["beats"].shape[1]])
    assert np.all(np.asarray(a_full["attention_weights"])[:, short["beats"].shape[1]:] == 0)


def test_beat_classifier_same_outputs_mixed_lengths_and_padded(mixed):
    short, full = mixed
    model = models.build_beat_classifier(CFG, tasks.MITDB_AAMI)
    steps, mask = short["beats"].shape[1], short["padding_mask"]
    p_short, p_full = np.asarray(model(short, training=False)), np.asarray(model(full, training=False))
    assert p_short.shape[1] == steps
    _close(p_short[mask], p_full[:, :steps][mask])


@pytest.mark.parametrize("target", ["beats", "latent"])
def test_masked_model_same_outputs_mixed_lengths_and_padded(mixed, target):
    """Inference masks (a fixed seeded draw) and every output on real beats do not depend on the padding."""
    short, full = mixed
    cfg = dataclasses.replace(CFG, masked_target=target, masked_rr_weight=0.5)
    model = models.build_masked_model(cfg, seed=3)
    steps, mask = short["beats"].shape[1], short["padding_mask"]
    out_short, out_full = model(short, training=False), model(full, training=False)
    positions = np.asarray(out_short["mask_positions"])
    assert positions[mask].sum() > 0 and positions[~mask].sum() == 0
    for key, value in out_short.items():
        _close(np.asarray(value)[mask], np.asarray(out_full[key])[:, :steps][mask])
    # the masked loss (the validation loss) is the same too
    loss_short = float(model.compute_loss(short, short["beats"], out_short, training=False))
    loss_full = float(model.compute_loss(full, full["beats"], out_full, training=False))
    assert loss_short == pytest.approx(loss_full, rel=1e-5)


def test_training_masks_do_not_depend_on_padding():
    from ecgsl_keras.modeling.layers import SegmentMasking

    mask = np.zeros((3, MAX_BEATS), bool)
    for i, n in enumerate((40, 7, 19)):
        mask[i, :n] = True
    first = SegmentMasking(0.3, 2, seed=5, max_beats=MAX_BEATS).select(mask[:, :40], seed=9)
    second = SegmentMasking(0.3, 2, seed=5, max_beats=MAX_BEATS).select(mask, seed=9)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second)[:, :40])


def test_saved_preset_predicts_the_same_mixed_and_padded(mixed):
    """A shipped preset (saved before this change) loads and gives the same probabilities both ways."""
    import keras

    import ecgsl_keras  # noqa: F401  (custom objects)

    short, full = mixed
    model = keras.models.load_model(REPO / "ecgsl_keras" / "presets" / "cinc2017" / "model.keras", compile=False)
    assert model.inputs[0].shape[1] is None or model.inputs[0].shape[1] == MAX_BEATS
    fixed = model.predict(full, verbose=0)
    assert fixed.shape == (6, 4) and np.allclose(fixed.sum(axis=1), 1.0, atol=1e-5)
    _close(model.predict(short, verbose=0), fixed)


def test_reader_pads_each_batch_to_its_longest_sequence(cinc_sample_tfrecords):
    from tfrecords_tools import make_dataset

    common = dict(split="train", batch_size=8, max_beats=MAX_BEATS, seed=0)
    fixed = next(iter(make_dataset(cinc_sample_tfrecords, length_aware=False, **common)))[0]
    assert fixed["beats"].shape[1] == MAX_BEATS
    for training in (False, True):
        ds = make_dataset(cinc_sample_tfrecords, training=training, **common)
        assert ds.element_spec[0]["beats"].shape.as_list() == [None, None, 96]
        steps = []
        for features, labels in ds:
            lengths = features["padding_mask"].numpy().sum(axis=1)
            assert features["beats"].shape[1] == lengths.max() <= MAX_BEATS
            assert features["rr"].shape[1] == features["padding_mask"].shape[1] == lengths.max()
            steps.append(int(lengths.max()))
        assert len(set(steps)) > 1
    # evaluation order and content are those of the fixed path, without the padding
    pad = make_dataset(cinc_sample_tfrecords, **common)
    for (a, ya), (b, yb) in zip(pad, make_dataset(cinc_sample_tfrecords, length_aware=False, **common)):
        steps = a["beats"].shape[1]
        np.testing.assert_array_equal(a["beats"].numpy(), b["beats"].numpy()[:, :steps])
        assert not b["padding_mask"].numpy()[:, steps:].any()
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_bucket_boundaries():
    from tfrecords_tools.reader import bucket_boundaries

    manifest = {"splits": {"train": {"min_beats": 5, "max_beats": 300, "examples": 10_000}}}
    assert bucket_boundaries(manifest, "train", 128) == list(range(13, 129, 8))
    # few examples: wider buckets so each one fills batches
    manifest["splits"]["train"]["examples"] = 100
    assert len(bucket_boundaries(manifest, "train", 128, batch_size=8)) <= 3
    assert bucket_boundaries(None, None, 32, bucket_width=16) == [17]


def test_augment_on_a_batch_shorter_than_min_beats():
    import tensorflow as tf

    from ecgsl_keras.config import TrainConfig
    from ecgsl_keras.data.augment import augment_batch

    features = {"beats": tf.ones((4, 2, 96)), "rr": tf.ones((4, 2, 3)), "padding_mask": tf.ones((4, 2), tf.bool)}
    train = TrainConfig(augment=True, augment_prob=1.0, augment_beat_dropout=0.5)
    out, _ = tf.function(lambda f, s: augment_batch(f, tf.zeros((4,), tf.int32), train, s),
                         input_signature=[{"beats": tf.TensorSpec((None, None, 96)),
                                           "rr": tf.TensorSpec((None, None, 3)),
                                           "padding_mask": tf.TensorSpec((None, None), tf.bool)},
                                          tf.TensorSpec((2,), tf.int64)])(features, tf.constant([1, 2], tf.int64))
    assert out["beats"].shape == (4, 2, 96)


def test_per_beat_windows_of_different_lengths_are_stacked():
    """Evaluation batches padded to their longest sequence: per-beat outputs of batches with
    different beat axes are stacked and aggregated per beat as before."""
    import tensorflow as tf

    from ecgsl_keras.evaluation.evaluate import aggregate, predict_windows

    def batch(steps, n_real, record):
        mask = np.arange(steps)[None, :] < np.array(n_real)[:, None]
        targets = np.where(mask, 1, -1).astype(np.int32)
        return ({"beats": tf.zeros((len(n_real), steps, 96)), "rr": tf.zeros((len(n_real), steps, 3)),
                 "padding_mask": tf.constant(mask), "record_id": tf.constant([record] * len(n_real)),
                 "segment_start_s": tf.constant([0.0] * len(n_real)),
                 "window_start": tf.constant([0] * len(n_real))}, tf.constant(targets))

    def predict(features):
        shape = tf.shape(features["beats"])
        return tf.one_hot(tf.ones(shape[:2], tf.int32), 5)

    windows = predict_windows(predict, [batch(4, [4, 2], "a"), batch(7, [7], "b")])
    assert windows["probabilities"].shape == (3, 7, 5) and windows["padding_mask"].shape == (3, 7)
    assert windows["padding_mask"].sum() == 13 and (windows["targets"][~windows["padding_mask"]] == -1).all()
    agg = aggregate(windows, tasks.PER_BEAT)
    assert len(agg["keys"]) == 4 + 7 and (agg["targets"] == 1).all()


def test_training_buckets_keep_every_example(cinc_sample_tfrecords):
    """Grouping by length with drop_remainder: the partial batch of each bucket is kept, so one pass
    holds every training example (no length is left out)."""
    from tfrecords_tools import count_examples, make_dataset

    ds = make_dataset(cinc_sample_tfrecords, split="train", training=True, batch_size=4, seed=0, drop_remainder=True,
                      include_meta=True, bucket_width=4)
    ids = [r for features, _ in ds for r in features["record_id"].numpy()]
    assert len(ids) == count_examples(cinc_sample_tfrecords, split="train")


@pytest.mark.parametrize("kind", ["classifier", "beat_classifier", "masked"])
def test_training_step_on_real_beats_only_gives_the_same_outputs(mixed, kind):
    """``real_beats_only`` (the beat encoder on the real beats, gathered and scattered back by the
    padding mask) changes no output on real beats in training mode, nor any gradient."""
    import keras
    import tensorflow as tf

    short, _ = mixed
    mask = short["padding_mask"]
    build = {"classifier": lambda c: models.build_classifier(c, tasks.CINC2017),
             "beat_classifier": lambda c: models.build_beat_classifier(c, tasks.MITDB_AAMI),
             "masked": lambda c: models.build_masked_model(c, seed=3)}[kind]
    results = []
    for real_only in (False, True):
        keras.utils.set_random_seed(1)
        model = build(dataclasses.replace(CFG, dropout=0.0, real_beats_only=real_only))
        if real_only:
            model.set_weights(weights)
        else:
            weights = model.get_weights()
        keras.utils.set_random_seed(2)            # the same training masks (masked model)
        with tf.GradientTape() as tape:
            out = model(short, training=True)
            flat = keras.tree.flatten(out)
            loss = sum(tf.reduce_sum(tf.boolean_mask(t, mask) if t.shape.rank >= 2 and t.shape[1] == mask.shape[1]
                                     else t) for t in flat)
        grads = tape.gradient(loss, model.trainable_variables)
        results.append((flat, grads))
    (out_all, g_all), (out_real, g_real) = results
    for a, b in zip(out_all, out_real):
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim >= 2 and a.shape[1] == mask.shape[1]:
            a, b = a[mask], b[mask]
        _close(a, b)
    assert all(g is not None for g in g_real)
    for a, b in zip(g_all, g_real):
        _close(a, b, atol=1e-4)


def test_flatten_beats_real_only_gathers_in_training_and_keeps_every_beat_in_inference():
    from ecgsl_keras.modeling.layers import FlattenBeats, UnflattenBeats

    beats = np.arange(2 * 3 * 2, dtype="float32").reshape(2, 3, 2)
    mask = np.array([[True, True, False], [True, False, False]])
    flatten, unflatten = FlattenBeats(real_only=True), UnflattenBeats(real_only=True)
    gathered = np.asarray(flatten((beats, mask), training=True))
    np.testing.assert_array_equal(gathered, beats[mask])
    back = np.asarray(unflatten((gathered * 10, beats, mask), training=True))
    np.testing.assert_array_equal(back, np.where(mask[..., None], beats * 10, 0))
    every = np.asarray(flatten((beats, mask), training=False))
    assert every.shape == (6, 2)
    np.testing.assert_array_equal(np.asarray(unflatten((every, beats, mask), training=False)), beats)
    assert FlattenBeats.from_config(flatten.get_config()).real_only


@pytest.mark.slow
def test_sorted_windows_keep_every_example_and_group_lengths(cinc_sample_tfrecords):
    """length_aware="sort": one pass holds every training example once, each batch padded to its
    longest; batches of a window are cut from its examples sorted by length."""
    from tfrecords_tools import count_examples, make_dataset

    common = dict(split="train", training=True, batch_size=4, seed=0, include_meta=True, max_beats=MAX_BEATS)
    ds = make_dataset(cinc_sample_tfrecords, length_aware="sort", sort_window=3, **common)
    ids, spans = [], []
    for features, labels in ds:
        lengths = features["padding_mask"].numpy().sum(axis=1)
        assert features["beats"].shape[1] == lengths.max() and labels.shape[0] == len(lengths)
        ids += list(features["record_id"].numpy())
        spans.append(lengths.max() - lengths.min())
    assert len(ids) == count_examples(cinc_sample_tfrecords, split="train")
    pad = make_dataset(cinc_sample_tfrecords, length_aware="pad", **common)
    pad_spans = [int(np.ptp(f["padding_mask"].numpy().sum(axis=1))) for f, _ in pad]
    assert np.mean(spans) < np.mean(pad_spans)
    with pytest.raises(ValueError, match="sort_window"):
        make_dataset(cinc_sample_tfrecords, length_aware="sort", sort_window=0, **common)


def test_train_config_length_aware_settings():
    from ecgsl_keras.config import TrainConfig
    from ecgsl_keras.errors import ConfigError

    assert TrainConfig().length_aware == "sort" and ModelConfig().real_beats_only
    for value in (True, False, "pad", "bucket", "sort"):
        TrainConfig(length_aware=value).validate()
    for bad in ({"length_aware": "sorted"}, {"sort_window_batches": 0}, {"sort_window_batches": True}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad).validate()

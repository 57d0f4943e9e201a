"""ecgsl_keras.modeling.layers (and the registered losses and optimizer): every custom layer through the shared
``run_layer_test`` (shapes, config round trip, a fit step, ``.keras`` saving), then what each layer does
with padding."""
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from ecgsl_keras.modeling import layers
from ecgsl_keras.modeling import losses, optimizers
from helpers import run_layer_test, run_model_saving_test, run_serialization_test, run_training_step


def padding(lengths, steps):
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]


def embeddings(batch, steps, dim, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, dim)).astype("float32")


# --- PositionalEncoding -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["learned", "sinusoidal"])
def test_positional_encoding_layer(mode, tmp_path):
    x = embeddings(2, 7, 8)
    out = run_layer_test(layers.PositionalEncoding, {"max_beats": 16, "mode": mode}, x,
                         expected_output_shape=(2, 7, 8), tmp_path=tmp_path,
                         expected_num_trainable_weights=1 if mode == "learned" else 0)
    layer = layers.PositionalEncoding(16, mode=mode)
    y = np.asarray(layer(x))
    table = y - x
    np.testing.assert_allclose(table[0], table[1], atol=1e-6)       # same vector per position in every sequence
    assert not np.allclose(table[0, 0], table[0, 1])                 # different positions differ
    if mode == "sinusoidal":
        np.testing.assert_allclose(table[0, 3, 0::2], np.sin(3 / 10000 ** (np.arange(0, 8, 2) / 8)), atol=1e-5)
    assert np.asarray(out).shape == x.shape


def test_positional_encoding_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        layers.PositionalEncoding(8, mode="rotary")
    with pytest.raises(ValueError, match="max_beats"):
        layers.PositionalEncoding(0)
    with pytest.raises(ValueError, match="exceed"):
        layers.PositionalEncoding(4)(embeddings(1, 5, 8))


# --- SegmentMasking ---------------------------------------------------------------------------

def expected_count(ratio, n):
    return 0 if n == 0 else min(n, max(1, int(np.floor(ratio * n + 0.5))))


def test_segment_masking_layer_is_identity_at_inference(tmp_path):
    x, pad = embeddings(3, 10, 8), padding([10, 6, 0], 10)
    # the fit step runs with training=True: the mask vector is learnt
    masked, positions = run_layer_test(layers.SegmentMasking, {"mask_ratio": 0.3, "mask_span": 2, "seed": 3},
                                       (x, pad), call_kwargs={"training": False},
                                       expected_output_shape=((3, 10, 8), (3, 10)), tmp_path=tmp_path,
                                       expected_num_trainable_weights=1)
    np.testing.assert_array_equal(np.asarray(masked), x)
    assert not np.asarray(positions).any()
    layer = layers.SegmentMasking(0.3, seed=3)
    masked, positions = layer((x, pad))        # training=None: inference too
    np.testing.assert_array_equal(np.asarray(masked), x)
    assert not np.asarray(positions).any()


@pytest.mark.parametrize("ratio,span", [(0.15, 1), (0.3, 3), (0.5, 2)])
def test_segment_masking_selects_round_ratio_of_real_beats_in_spans(ratio, span):
    steps = 24
    rng = np.random.default_rng(1)
    # Real beats at the start (as the data pipeline pads) and scattered anywhere (the general case).
    lengths = np.array([0, 1, 2, 5, 9, 13, 24, 17])
    prefix = padding(lengths, steps)
    scattered = rng.random((8, steps)) < 0.6
    scattered[0] = False
    layer = layers.SegmentMasking(ratio, mask_span=span, seed=7)
    for pad in (prefix, scattered):
        x = embeddings(8, steps, 4)
        for _ in range(5):
            masked, positions = layer((x, pad), training=True)
            masked, positions = np.asarray(masked), np.asarray(positions)
            assert not (positions & ~pad).any(), "padding was selected"
            for row in range(8):
                n = int(pad[row].sum())
                k = expected_count(ratio, n)
                assert positions[row].sum() == k, (row, n, positions[row].sum(), k)
                # spans are counted over real beats: the masked ranks form at most ceil(k / span) runs
                in_rank = positions[row][pad[row]].astype(int)
                runs = int(np.sum(np.diff(np.concatenate([[0], in_rank])) == 1))
                assert runs <= -(-k // span), (row, in_rank, span)
            mask_vector = np.asarray(layer.mask_vector)
            np.testing.assert_array_equal(masked[positions], np.broadcast_to(mask_vector, masked[positions].shape))
            np.testing.assert_array_equal(masked[~positions], x[~positions])


def test_segment_masking_reaches_every_real_beat():
    pad = padding([11], 16)
    layer = layers.SegmentMasking(0.2, mask_span=3, seed=0)
    seen = np.zeros(16, bool)
    for _ in range(60):
        seen |= np.asarray(layer((embeddings(1, 16, 4), pad), training=True)[1])[0]
    np.testing.assert_array_equal(seen, pad[0])     # first and last real beats included, padding never


def test_segment_masking_is_reproducible_with_a_seed():
    x, pad = embeddings(4, 20, 4), padding([20, 15, 9, 3], 20)

    def draws(seed, n=3):
        layer = layers.SegmentMasking(0.25, mask_span=2, seed=seed)
        return [np.asarray(layer((x, pad), training=True)[1]) for _ in range(n)]

    a, b, c = draws(11), draws(11), draws(12)
    for first, second in zip(a, b):
        np.testing.assert_array_equal(first, second)
    assert any(not np.array_equal(p, q) for p, q in zip(a, c))
    assert not np.array_equal(a[0], a[1]), "successive training steps should draw new masks"


def test_segment_masking_fixed_draw_at_inference_when_asked():
    x, pad = embeddings(4, 20, 4), padding([20, 15, 9, 3], 20)
    layer = layers.SegmentMasking(0.25, seed=5, mask_at_inference=True)
    first = np.asarray(layer((x, pad), training=False)[1])
    second = np.asarray(layer((x, pad), training=False)[1])
    np.testing.assert_array_equal(first, second)
    assert first.sum() == sum(expected_count(0.25, n) for n in (20, 15, 9, 3))
    run_serialization_test(layer)


def test_segment_masking_bad_arguments():
    with pytest.raises(ValueError, match="mask_ratio"):
        layers.SegmentMasking(1.0)
    with pytest.raises(ValueError, match="mask_span"):
        layers.SegmentMasking(0.2, mask_span=0)


# --- TransformerEncoderBlock ------------------------------------------------------------------

@pytest.mark.parametrize("normalize_first", [True, False])
def test_transformer_block_layer(normalize_first, tmp_path):
    x, pad = embeddings(2, 6, 8), padding([6, 4], 6)
    out = run_layer_test(layers.TransformerEncoderBlock,
                         {"num_heads": 2, "ff_dim": 16, "dropout": 0.1, "normalize_first": normalize_first},
                         x, call_kwargs={"padding_mask": pad, "training": False}, expected_output_shape=(2, 6, 8),
                         tmp_path=tmp_path, expected_num_trainable_weights=16)
    out = np.asarray(out)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[1, 4:], 0.0)           # padded rows are exactly 0


def test_transformer_block_ignores_padding_and_never_gives_nan():
    block = layers.TransformerEncoderBlock(num_heads=2, ff_dim=16)
    x = embeddings(3, 5, 8)
    pad = padding([5, 3, 0], 5)        # the last sequence is all padding
    short = np.asarray(block(x, padding_mask=pad))
    assert np.isfinite(short).all()
    # Append 4 padded beats holding garbage: real outputs unchanged.
    longer = np.concatenate([x, 100 * embeddings(3, 4, 8, seed=1)], axis=1)
    longer_pad = np.concatenate([pad, np.zeros((3, 4), bool)], axis=1)
    long_out = np.asarray(block(longer, padding_mask=longer_pad))
    np.testing.assert_allclose(long_out[:, :5][pad], short[pad], atol=1e-5)
    # Changing a padded beat's content changes nothing either.
    x_changed = x.copy()
    x_changed[1, 3:] = 50.0
    np.testing.assert_allclose(np.asarray(block(x_changed, padding_mask=pad)), short, atol=1e-5)


def test_transformer_block_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        layers.TransformerEncoderBlock(num_heads=3, ff_dim=8)(embeddings(1, 2, 8))
    with pytest.raises(ValueError, match="dropout"):
        layers.TransformerEncoderBlock(num_heads=2, ff_dim=8, dropout=1.0)


# --- pooling ----------------------------------------------------------------------------------

def test_attention_pooling_layer(tmp_path):
    h, pad = embeddings(3, 7, 8), padding([7, 3, 1], 7)
    pooled, weights = run_layer_test(layers.AttentionPooling, {"units": 5}, (h, pad),
                                     expected_output_shape=((3, 8), (3, 7)), tmp_path=tmp_path,
                                     expected_num_trainable_weights=3)
    weights = np.asarray(weights)
    assert (weights[~pad] == 0.0).all(), "padding must get weight exactly 0"
    assert (weights[pad] > 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pooled), np.einsum("bt,btd->bd", weights, h), atol=1e-5)


def test_attention_pooling_padding_invariance():
    layer = layers.AttentionPooling(units=4)
    h, pad = embeddings(2, 5, 6), padding([5, 2], 5)
    pooled, weights = (np.asarray(t) for t in layer((h, pad)))
    longer = np.concatenate([h, 1e3 * embeddings(2, 3, 6, seed=2)], axis=1)
    longer_pad = np.concatenate([pad, np.zeros((2, 3), bool)], axis=1)
    pooled_long, weights_long = (np.asarray(t) for t in layer((longer, longer_pad)))
    np.testing.assert_allclose(pooled_long, pooled, atol=1e-5)
    np.testing.assert_allclose(weights_long[:, :5], weights, atol=1e-6)
    assert (weights_long[:, 5:] == 0).all()
    all_padding = np.asarray(layer((h, np.zeros_like(pad)))[0])
    np.testing.assert_array_equal(all_padding, 0.0)                 # no NaN on an empty sequence


def test_masked_mean_pooling(tmp_path):
    h, pad = embeddings(3, 6, 4), padding([6, 2, 0], 6)
    pooled, weights = run_layer_test(layers.MaskedMeanPooling, {}, (h, pad),
                                     expected_output_shape=((3, 4), (3, 6)), tmp_path=tmp_path)
    pooled, weights = np.asarray(pooled), np.asarray(weights)
    np.testing.assert_allclose(pooled[0], h[0].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(pooled[1], h[1, :2].mean(axis=0), atol=1e-6)
    np.testing.assert_array_equal(pooled[2], 0.0)
    np.testing.assert_allclose(weights[1], [0.5, 0.5, 0, 0, 0, 0])


def test_flatten_unflatten_beats(tmp_path):
    beats = embeddings(2, 5, 12)
    # no fit step for either: their output's batch is not their input's (beats flattened into the batch)
    flat = run_layer_test(layers.FlattenBeats, {}, beats, expected_output_shape=(10, 12), tmp_path=tmp_path,
                          run_training_check=False)
    np.testing.assert_array_equal(np.asarray(flat), beats.reshape(10, 12))
    back = run_layer_test(layers.UnflattenBeats, {}, (np.asarray(flat)[:, :3], beats),
                          expected_output_shape=(2, 5, 3), tmp_path=tmp_path, run_training_check=False)
    np.testing.assert_array_equal(np.asarray(back), beats[:, :, :3])


def test_cast_to_float(tmp_path):
    mask = padding([3, 1], 4)
    out = run_layer_test(layers.CastToFloat, {}, mask, expected_output_shape=(2, 4), tmp_path=tmp_path)
    assert np.asarray(out).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(out), mask.astype(np.float32))


def test_layers_are_registered_under_ecgsl():
    for name in ("PositionalEncoding", "SegmentMasking", "TransformerEncoderBlock", "AttentionPooling",
                 "MaskedMeanPooling", "RhythmStatistics", "RRStatistics", "FlattenBeats", "UnflattenBeats",
                 "CastToFloat"):
        assert keras.saving.get_registered_object(f"ecgsl>{name}") is getattr(layers, name)


def test_rhythm_statistics_match_a_hand_computation_over_real_beats(tmp_path):
    rng = np.random.default_rng(0)
    rr = rng.uniform(0.4, 1.2, (3, 12, 3)).astype("float32")
    padding = np.ones((3, 12), bool)
    padding[1, 9:] = False                     # padding at the end
    padding[2, [2, 5]] = False                 # beats dropped in the middle (augmentation)
    out = np.asarray(layers.RhythmStatistics()((rr, padding)))
    assert out.shape == (3, layers.RhythmStatistics.n_statistics)
    for b in range(3):
        x, local = rr[b, padding[b], 0], rr[b, padding[b], 2]
        d = np.diff(x)                         # consecutive REAL beats
        ratio = x / local
        expected = [x.mean(), x.std(), x.std() / x.mean(), np.sqrt((d ** 2).mean()) / x.mean(),
                     np.abs(d).mean() / x.mean(), (np.abs(d) > 0.05).mean(), ratio.std(),
                     (np.abs(ratio - 1) > 0.15).mean()]
        np.testing.assert_allclose(out[b], expected, rtol=1e-4, atol=1e-4)
    # whatever padded positions hold does not matter
    noisy = rr.copy()
    noisy[~padding] = 7.0
    np.testing.assert_allclose(np.asarray(layers.RhythmStatistics()((noisy, padding))), out, rtol=1e-6)
    run_layer_test(layers.RhythmStatistics, {"name": "rhythm"}, (rr, padding),
                   expected_output_shape=(3, layers.RhythmStatistics.n_statistics), tmp_path=tmp_path,
                   expected_num_trainable_weights=0, atol=1e-5)


def test_rr_statistics_layer_contract(tmp_path):
    """RRStatistics (the rhythm member's input; its values against NumPy: tests/test_rhythm_member.py) through the
    layer test: config round trip, saving, no weights, padding whatever it holds."""
    rng = np.random.default_rng(1)
    rr = rng.uniform(0.4, 1.2, (3, 12, 3)).astype("float32")
    mask = padding([12, 9, 5], 12)
    out = run_layer_test(layers.RRStatistics, {"name": "rr_statistics"}, (rr, mask),
                         expected_output_shape=(3, layers.RRStatistics.n_statistics), tmp_path=tmp_path,
                         expected_num_trainable_weights=0, atol=1e-5)
    noisy = rr.copy()
    noisy[~mask] = 7.0
    np.testing.assert_allclose(np.asarray(layers.RRStatistics()((noisy, mask))), np.asarray(out), rtol=1e-6)
    run_layer_test(layers.RRStatistics, {"entropy": True, "name": "rr_statistics"}, (rr, mask),
                   expected_output_shape=(3, layers.RRStatistics.n_statistics + 2), tmp_path=tmp_path,
                   expected_num_trainable_weights=0, atol=1e-5)


def test_every_custom_layer_goes_through_run_layer_test():
    """A new layer in ecgsl_keras.modeling.layers must get a run_layer_test here."""
    import inspect

    source = Path(__file__).read_text()
    custom = sorted(name for name, obj in vars(layers).items()
                    if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and obj.__module__ == layers.__name__)
    tested = set(re.findall(r"run_layer_test\(\s*layers\.(\w+)", source))
    assert custom and set(custom) <= tested, sorted(set(custom) - tested)


# --- registered losses and optimizer ----------------------------------------------------------

@pytest.mark.parametrize("loss", [losses.SparseCategoricalCrossentropyWithSmoothing(label_smoothing=0.1),
                                  losses.SparseFocalCrossentropy(gamma=2.0, ignore_class=-1)],
                         ids=lambda loss: type(loss).__name__)
def test_registered_loss_round_trip_fit_and_saving(loss, tmp_path):
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(4), size=(6,)).astype("float32")
    targets = np.array([0, 1, 2, 3, 1, -1 if loss.get_config().get("ignore_class") == -1 else 0], np.int32)
    # keras.losses.Loss.get_config leaves out ``dtype`` (Keras' own losses too): the losses keep the default
    revived = run_serialization_test(loss, ignore_args=("dtype",))
    assert float(revived(targets, probabilities)) == pytest.approx(float(loss(targets, probabilities)), rel=1e-6)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(inputs), name="loss_model")
    x = rng.normal(size=(6, 5)).astype("float32")
    run_training_step(model, x, targets, loss=loss, steps=2)
    before = model.evaluate(x, targets, verbose=0)
    model.save(tmp_path / "with_loss.keras")
    loaded = keras.models.load_model(tmp_path / "with_loss.keras")       # compiled: the loss comes back
    assert type(loaded.loss) is type(loss) and loaded.loss.get_config() == model.loss.get_config()
    assert loaded.evaluate(x, targets, verbose=0) == pytest.approx(before, rel=1e-6)


def test_encoder_adamw_round_trip_fit_and_saving(tmp_path):
    optimizer = optimizers.EncoderAdamW(learning_rate=1e-2, weight_decay=1e-3, encoder_layers=("encoder",),
                                        encoder_lr_multiplier=0.0, encoder_warmup_steps=1,
                                        weight_decay_exclude=("bias",))
    run_serialization_test(optimizer)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(8, activation="relu", name="encoder")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden), name="optimizer_model")
    x = np.random.default_rng(1).normal(size=(8, 5)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    encoder = [w.copy() for w in model.get_layer("encoder").get_weights()]
    run_training_step(model, x, y, loss="mse", optimizer=optimizer, steps=2)
    # the head learnt; the encoder's learning rate is 0 (multiplier 0): unchanged, weight decay included
    for a, b in zip(encoder, model.get_layer("encoder").get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded = run_model_saving_test(model, x, tmp_path)
    assert type(loaded.optimizer) is optimizers.EncoderAdamW
    config, original = loaded.optimizer.get_config(), model.optimizer.get_config()
    for key in ("encoder_layers", "encoder_lr_multiplier", "encoder_warmup_steps", "weight_decay_exclude",
                "weight_decay"):
        assert config[key] == original[key], key
    assert int(loaded.optimizer.iterations) == 2

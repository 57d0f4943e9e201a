"""Exact resume: the input of a run resumed at epoch k is, batch for batch, what an uninterrupted run reads from
epoch k on (the seeded stream skips the epochs already trained; a fresh stream restarted at epoch 1's order: a run
killed at epoch 3 ended at macro F1 0.197 against 0.234), and the dropout masks continue where they stopped."""
import numpy as np
import pytest

import ecgsl_keras  # noqa: F401  (custom objects)
from ecgsl_keras import tasks
from ecgsl_keras.training.stages import get_stage
from ecgsl_keras.training.trainer import resolve_config
from tfrecords_tools import load_manifest


def _batches(stage, data, manifest, config, initial_epoch, n):
    import tensorflow as tf

    ds = stage.input_fn(data, manifest, config, tasks.CINC2017, 16, initial_epoch=initial_epoch)(
        tf.distribute.InputContext())
    return [features for features, *_ in ds.take(n)]


@pytest.mark.parametrize("augment", [False, True])
def test_the_stream_resumed_at_epoch_2_is_the_uninterrupted_one_from_epoch_2(cinc_sample_tfrecords, augment):
    import dataclasses

    manifest = load_manifest(cinc_sample_tfrecords)
    config = resolve_config(None, manifest, cinc_sample_tfrecords, seed=11, batch_size=16, epochs=3)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, augment=augment))
    stage = get_stage("supervised")
    steps = stage.steps_per_epoch(manifest, 16)
    whole = _batches(stage, cinc_sample_tfrecords, manifest, config, 0, 3 * steps)
    resumed = _batches(stage, cinc_sample_tfrecords, manifest, config, 2, steps)
    for a, b in zip(whole[2 * steps:], resumed):
        for key in a:
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    # and the epochs differ from each other (the order is not simply frozen)
    assert not np.array_equal(whole[0]["beats"].numpy()[:, :4], whole[steps]["beats"].numpy()[:, :4])


def test_dropout_seed_state_is_saved_and_restored_with_the_callback_state(tmp_path):
    """``save_weights`` (so BackupAndRestore) leaves the seed generators out: a resumed run would draw
    epoch 1's dropout masks again. CallbackState keeps them."""
    import keras

    from ecgsl_keras.training.callbacks import CallbackState, _seed_states

    def model():
        inputs = keras.Input((4,))
        net = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dropout(0.5)(keras.layers.Dense(8)(inputs))))
        net.compile(optimizer="sgd", loss="mse")
        return net

    def state(net):
        stopping = keras.callbacks.EarlyStopping(monitor="loss")
        checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), monitor="loss", save_best_only=True)
        callback = CallbackState(tmp_path / "state.json", stopping, checkpoint, tmp_path / "checkpoints", 0)
        callback.set_model(net)
        return [stopping, checkpoint, callback]

    first = model()
    first.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=2, verbose=0, callbacks=state(first))
    trained = [v.numpy().tolist() for v in _seed_states(first)]
    second = model()
    assert [v.numpy().tolist() for v in _seed_states(second)] != trained
    state(second)[-1].on_train_begin()
    assert [v.numpy().tolist() for v in _seed_states(second)] == trained

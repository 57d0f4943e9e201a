"""Reusable checks for layers and models (in the spirit of keras-hub's TestCase helpers), and real
beats from the in-repo fixtures for the model tests."""
from __future__ import annotations

import functools
from pathlib import Path

import keras
import numpy as np

import ecgsl_keras  # noqa: F401  (registers the custom objects: load_model below gets no custom_objects)

REPO = Path(__file__).resolve().parents[1]
CINC_SAMPLE = REPO / "ecgsl_keras" / "data" / "cinc2017_sample"
MITDB_FIXTURE = REPO / "tests" / "fixtures" / "mitdb"


def _numpy(structure):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), structure)


def assert_allclose_structure(actual, expected, atol=1e-6):
    """Same leaves (a functional model returns a list where the layer returned a tuple)."""
    actual, expected = _numpy(actual), _numpy(expected)
    if isinstance(actual, dict) or isinstance(expected, dict):
        assert isinstance(actual, dict) and isinstance(expected, dict) and sorted(actual) == sorted(expected)
    actual, expected = keras.tree.flatten(actual), keras.tree.flatten(expected)
    assert len(actual) == len(expected), (len(actual), len(expected))
    for a, e in zip(actual, expected):
        assert a.shape == e.shape, (a.shape, e.shape)
        if a.dtype == bool:
            np.testing.assert_array_equal(a, e)
        else:
            np.testing.assert_allclose(a, e, atol=atol, rtol=0)


def run_serialization_test(instance):
    """get_config -> from_config, and serialize_keras_object -> deserialize, give the same config;
    the config is JSON-serialisable as Keras saves it."""
    config = instance.get_config()
    revived = instance.__class__.from_config(config)
    assert revived.get_config() == config
    serialized = keras.saving.serialize_keras_object(instance)
    assert serialized["registered_name"].startswith("ecgsl>"), serialized["registered_name"]
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(instance)
    assert revived.get_config() == config
    return revived


def run_layer_test(layer_cls, init_kwargs, input_data, call_kwargs=None, expected_output_shape=None,
                   tmp_path=None, atol=1e-6):
    """Build and call the layer, check output shapes, serialise it, and (with ``tmp_path``) save it
    in a functional model and load it back with identical outputs. Returns the layer's output."""
    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    for key, value in init_kwargs.items():
        if key != "name":
            assert key in layer.get_config(), f"{key} missing from get_config()"
    output = layer(input_data, **call_kwargs)
    if expected_output_shape is not None:
        shapes = keras.tree.map_structure(lambda t: tuple(t.shape), output)
        assert shapes == expected_output_shape, (shapes, expected_output_shape)
    revived = run_serialization_test(layer)
    revived(input_data, **call_kwargs)     # builds the weights
    revived.set_weights(layer.get_weights())
    assert_allclose_structure(revived(input_data, **call_kwargs), output, atol=atol)
    if tmp_path is not None:
        model = _wrap_in_model(layer_cls(**init_kwargs), input_data, call_kwargs)
        run_model_saving_test(model, input_data, tmp_path, atol=atol)
    return output


def _wrap_in_model(layer, input_data, call_kwargs):
    def symbolic(x):
        x = np.asarray(x)
        return keras.Input(x.shape[1:], batch_size=None, dtype="bool" if x.dtype == bool else "float32")

    inputs = keras.tree.map_structure(symbolic, input_data)
    kwargs = {k: v for k, v in call_kwargs.items() if k != "training"}
    if isinstance(input_data, (tuple, list)) and "padding_mask" not in kwargs:
        outputs = layer(tuple(inputs), **kwargs)
        inputs = list(inputs)
    elif "padding_mask" in kwargs:
        mask = symbolic(kwargs.pop("padding_mask"))
        outputs = layer(inputs, padding_mask=mask, **kwargs)
        inputs = [inputs, mask]
        input_data = [input_data, call_kwargs["padding_mask"]]
    else:
        outputs = layer(inputs, **kwargs)
    model = keras.Model(inputs, outputs)
    model._test_input_data = input_data
    return model


def run_model_saving_test(model, input_data=None, tmp_path=None, atol=1e-6):
    """``model.save(.keras)`` -> ``keras.models.load_model`` (no custom_objects) gives a model of
    the same class, name and config whose outputs equal the original's (training=False)."""
    input_data = getattr(model, "_test_input_data", input_data)
    path = Path(tmp_path) / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.name == model.name
    assert len(loaded.weights) == len(model.weights)
    assert_allclose_structure(loaded(input_data, training=False), model(input_data, training=False), atol=atol)
    return loaded


# --- real data -----------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def cinc_beats(n_records: int = 6):
    """``[(record_id, label index, beats (n, 96), rr (n, 3), signal)]`` of the first CinC sample records
    (``signal``: the cleaned, 100 Hz, normalised signal the beats were cut from)."""
    from ecgsl_keras import tasks
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.signal import preprocess

    reader = open_dataset("cinc2017", CINC_SAMPLE)
    out = []
    for record_id in reader.record_ids()[:n_records]:
        record = reader.load(record_id)
        beats = preprocess(record.lead(None), record.fs, path=record.path)
        out.append((record_id, tasks.CINC2017.index(record.labels[0]), beats.beats, beats.rr, beats.signal))
    return out


def cinc_batch(n_records: int = 6, max_beats: int = 32):
    """A padded batch of real CinC records: (features dict, labels (B,) int32)."""
    records = cinc_beats(n_records)
    beat_len, n_rr = records[0][2].shape[1], records[0][3].shape[1]
    batch = len(records)
    beats = np.zeros((batch, max_beats, beat_len), np.float32)
    rr = np.zeros((batch, max_beats, n_rr), np.float32)
    mask = np.zeros((batch, max_beats), bool)
    labels = np.zeros((batch,), np.int32)
    for i, (_, label, b, r, _) in enumerate(records):
        n = min(len(b), max_beats)
        beats[i, :n], rr[i, :n], mask[i, :n], labels[i] = b[:n], r[:n], True, label
    return {"beats": beats, "rr": rr, "padding_mask": mask}, labels


@functools.lru_cache(maxsize=None)
def mitdb_beats(record_id: str = "208", seconds: float = 90.0):
    """Beats, RR and AAMI per-beat labels (-1 unmatched) of the first ``seconds`` of a MIT-BIH record."""
    from ecgsl_keras import tasks
    from ecgsl_keras.data.datasets import open_dataset
    from ecgsl_keras.data.prepare import match_beat_labels
    from ecgsl_keras.data.signal import preprocess

    record = open_dataset("mitdb", MITDB_FIXTURE).load(record_id)
    signal = record.lead(None)[: int(seconds * record.fs)]
    beats = preprocess(signal, record.fs, path=record.path)
    labels = match_beat_labels(beats.rpeaks_native, record.beat_annotations, tasks.MITDB_AAMI, record.fs)
    return beats.beats, beats.rr, labels.astype(np.int32)


def save_run_folder(model, folder, config, task) -> Path:
    """Save ``model`` as a minimal run folder (``model.keras`` + ``config.json``) like train writes."""
    from ecgsl_keras.store import runs

    folder = Path(folder)
    model.save(folder / runs.MODEL_NAME)
    runs.write_json(folder / runs.CONFIG_NAME, {"experiment_config": config.to_dict(), "task": task.to_dict()})
    return folder

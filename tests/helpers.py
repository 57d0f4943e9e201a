"""Reusable checks for layers and models (in the spirit of keras-hub's TestCase helpers), and real
beats from the in-repo fixtures for the model tests."""
from __future__ import annotations

import copy
import functools
import inspect
import json
from pathlib import Path

import keras
import numpy as np
import pytest

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


def assert_config_has_constructor_args(instance, config=None, ignore=()):
    """Every named argument of the class's ``__init__`` (its own and its bases' up to Keras') is a key
    of ``get_config()``: an argument left out would be lost on saving. ``ignore``: names known to be left out."""
    config = instance.get_config() if config is None else config
    missing = []
    for cls in type(instance).__mro__:
        if cls.__module__.startswith("keras") or cls is object:
            break
        for name, param in inspect.signature(cls.__init__).parameters.items():
            if name != "self" and name not in ignore and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD) and name not in config:
                missing.append(f"{cls.__name__}.{name}")
    assert not missing, f"constructor arguments missing from get_config(): {missing}"


def run_serialization_test(instance, ignore_args=()):
    """get_config -> from_config, and serialize_keras_object -> deserialize, give the same config;
    every constructor argument (but ``ignore_args``) is in the config; the config is JSON-serialisable."""
    config = instance.get_config()
    assert_config_has_constructor_args(instance, config, ignore=ignore_args)
    json.dumps(keras.saving.serialize_keras_object(instance))
    revived = instance.__class__.from_config(copy.deepcopy(config))
    assert revived.get_config() == config
    serialized = keras.saving.serialize_keras_object(instance)
    if type(instance).__module__.startswith("ecgsl_keras"):
        assert serialized["registered_name"].startswith("ecgsl>"), serialized["registered_name"]
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(instance)
    assert revived.get_config() == config
    return revived


def _weights(model):
    return [np.array(keras.ops.convert_to_numpy(w)) for w in model.trainable_weights]


def run_training_step(model, x, y=None, loss="mse", optimizer=None, steps=1, run_eagerly=False):
    """keras-hub's training check: compile, ``fit`` ``steps`` batch(es) of ``x`` -> ``y``; the loss is finite
    and at least one trainable weight changes
    (``y`` None: the model computes its own loss, e.g. ``MaskedSegmentModel``). Returns the losses."""
    optimizer = optimizer or keras.optimizers.Adam(1e-2)
    # traced by default, as training runs
    model.compile(optimizer=optimizer, loss=loss, run_eagerly=run_eagerly)
    # slots before fit: built inside the first traced step, they make TensorFlow trace it twice
    model.optimizer.build(model.trainable_variables)
    before = _weights(model)
    batch = len(keras.tree.flatten(x)[0])
    history = model.fit(x, y, batch_size=batch, epochs=steps, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == steps and np.isfinite(losses).all(), losses
    if before:
        changed = [not np.array_equal(a, b) for a, b in zip(before, _weights(model))]
        assert any(changed), f"{model.name}: no trainable weight changed in {steps} fit step(s)"
    return losses


def run_layer_test(layer_cls, init_kwargs, input_data, call_kwargs=None, expected_output_shape=None,
                   tmp_path=None, atol=1e-6, run_training_check=True, expected_num_trainable_weights=None):
    """keras-hub's ``run_layer_test``: build and call the layer, check the output shapes; the config round
    trip (every constructor argument in ``get_config``; ``from_config`` with the same weights gives the same
    outputs); a ``fit`` step of the layer in a functional model (finite loss, trainable weights change);
    and (with ``tmp_path``) ``.keras`` saving loaded back with plain ``keras.models.load_model`` giving
    identical outputs. Returns the layer's output."""
    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    output = layer(input_data, **call_kwargs)
    if expected_output_shape is not None:
        shapes = keras.tree.map_structure(lambda t: tuple(t.shape), output)
        assert shapes == expected_output_shape, (shapes, expected_output_shape)
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, len(layer.trainable_weights)
    revived = run_serialization_test(layer)
    for key, value in init_kwargs.items():
        if key != "name":
            assert revived.get_config()[key] == (list(value) if isinstance(value, tuple) else value), key
    revived(input_data, **call_kwargs)     # builds the weights
    revived.set_weights(layer.get_weights())
    assert_allclose_structure(revived(input_data, **call_kwargs), output, atol=atol)
    if run_training_check:
        model = _wrap_in_model(layer_cls(**init_kwargs), input_data, call_kwargs, first_output_only=True)
        target = np.zeros(tuple(model.output.shape[1:]), np.float32)
        target = np.broadcast_to(target, (len(keras.tree.flatten(input_data)[0]),) + target.shape).copy() + 0.5
        run_training_step(model, model._test_input_data, target, run_eagerly=True)   # eager: faster for one step
    if tmp_path is not None:
        model = _wrap_in_model(layer_cls(**init_kwargs), input_data, call_kwargs)
        run_model_saving_test(model, input_data, tmp_path, atol=atol)
    return output


def _wrap_in_model(layer, input_data, call_kwargs, first_output_only=False):
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
    if first_output_only and isinstance(outputs, (tuple, list)):
        outputs = outputs[0]               # the float output the fit step regresses
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


def run_model_test(model, input_data, tmp_path, target=None, loss="mse", run_training_check=True, atol=1e-6,
                   run_eagerly=True):
    """The model counterpart of ``run_layer_test`` (keras-hub's ``run_model_saving_test`` plus a fit step):
    ``from_config(get_config())`` gives the same class, name and config and, with the same weights, the same
    outputs; a subclassed model's constructor arguments are all in its config; ``.keras`` saving gives
    identical outputs (before training); a ``fit`` step gives a finite loss and changes the weights."""
    config = model.get_config()
    if not isinstance(model, keras.Model) or type(model) not in (keras.Model, keras.Sequential):
        assert_config_has_constructor_args(model, config)
    revived = model.__class__.from_config(copy.deepcopy(config))     # Functional.from_config pops keys
    assert type(revived) is type(model) and revived.name == model.name
    assert json.dumps(revived.get_config(), sort_keys=True, default=str) == \
        json.dumps(config, sort_keys=True, default=str)
    revived.set_weights(model.get_weights())
    assert_allclose_structure(revived(input_data, training=False), model(input_data, training=False), atol=atol)
    run_model_saving_test(model, input_data, tmp_path, atol=atol)
    if run_training_check:
        # eager: one step of these small models is several times faster than tracing their train function
        run_training_step(model, input_data, target, loss=loss, run_eagerly=run_eagerly)
    return model


# --- a tiny model for plumbing tests ----------------------------------------------------------

# The classifier's layers at their smallest: for tests of run folders, distribution, export and stacking,
# whose assertions do not depend on the model's size (beat_len, n_rr_features and max_beats stay the
# prepared sample's). Training, saving and TFLite conversion of the default model cost several times more.
# tests/test_models.py's model (and its two-replica check, tests/two_replicas.py): two blocks, still small.
SMALL_MODEL = dict(embed_dim=16, conv_filters=(8, 8, 16), d_model=16, num_heads=2, ff_dim=32, num_layers=2,
                   max_beats=40, head_units=16, attention_units=8, resnet_filters=8, resnet_blocks=2)
TINY_MODEL = dict(embed_dim=8, conv_filters=(4, 8, 8), d_model=16, num_heads=2, ff_dim=16, num_layers=1,
                  head_units=8, attention_units=8, resnet_filters=8, resnet_blocks=2)


def tiny_experiment_config(**model_overrides):
    """``ExperimentConfig()`` with the ``TINY_MODEL`` classifier (``model_overrides`` on top)."""
    from ecgsl_keras.config import ExperimentConfig, ModelConfig

    return ExperimentConfig(model=ModelConfig(**{**TINY_MODEL, **model_overrides}))


def export_experiment_config():
    """The default config with a smaller model (one narrower transformer layer, narrower beat encoder), for
    export tests: TFLite conversion and SavedModel tracing grow with the graph; the inputs (max_beats 128,
    beat_len 96) stay the default's, which the signature and metadata tests check."""
    import dataclasses

    from ecgsl_keras.config import ExperimentConfig

    base = ExperimentConfig()
    return dataclasses.replace(base, model=dataclasses.replace(
        base.model, conv_filters=(8, 16, 32), embed_dim=32, d_model=32, num_heads=2, ff_dim=64, num_layers=1,
        attention_units=32))


# --- metrics recomputed by hand ---------------------------------------------------------------

def f1_from_confusion(matrix) -> np.ndarray:
    """Per-class F1 = 2 TP / (2 TP + FP + FN) from a confusion matrix (rows true, columns predicted);
    0 for a class never true nor predicted (sklearn's ``zero_division=0``)."""
    m = np.asarray(matrix, np.float64)
    tp = np.diag(m)
    denominator = 2 * tp + (m.sum(axis=0) - tp) + (m.sum(axis=1) - tp)
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def majority_macro_f1(matrix) -> float:
    """Macro F1 of always predicting the most frequent true class of ``matrix``."""
    m = np.asarray(matrix, np.float64)
    support = m.sum(axis=1)
    majority = np.zeros_like(m)
    majority[:, int(np.argmax(support))] = support
    return float(f1_from_confusion(majority).mean())


def assert_metrics_match_confusion(result, label_names=None, atol=1e-6):
    """``macro_f1``, ``per_class_f1`` (and ``accuracy`` if present) equal the values recomputed by hand from
    ``confusion_matrix`` (to 6 places: ``ecgsl evaluate`` rounds its JSON so); returns the per-class F1 array."""
    f1 = f1_from_confusion(result["confusion_matrix"])
    m = np.asarray(result["confusion_matrix"])
    present = (m.sum(axis=0) + m.sum(axis=1)) > 0   # classes neither true nor predicted are left out
    assert result["macro_f1"] == pytest.approx(f1[present].mean(), abs=atol), (result["macro_f1"], f1)
    if "per_class_f1" in result:
        names = list(label_names or result["per_class_f1"])
        got = [result["per_class_f1"][name] for name in names]
        assert [g is None for g in got] == (~present).tolist()
        np.testing.assert_allclose([g for g in got if g is not None], f1[present], atol=atol)
    if "accuracy" in result:
        m = np.asarray(result["confusion_matrix"], np.float64)
        assert result["accuracy"] == pytest.approx(np.trace(m) / m.sum(), abs=atol)
    return f1


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


@functools.lru_cache(maxsize=None)
def preset_predictor(name: str):
    """``serving.inference.load_model(name)`` of a shipped preset, once per session: loading a preset and
    tracing its first prediction cost seconds (cinc2017 is ten networks), and tests that only read a
    predictor's outputs can share one (the command-line tests still load their own)."""
    from ecgsl_keras.serving.inference import load_model

    return load_model(name)


def untrained_cinc2017_run(folder) -> Path:
    """A run folder (``model.keras`` + ``config.json``) of the default CinC 2017 classifier, weights seeded (0),
    not trained: for tests of the loading and command paths, not of accuracy."""
    import keras

    from ecgsl_keras import tasks
    from ecgsl_keras.config import ExperimentConfig
    from ecgsl_keras.modeling import models

    keras.utils.set_random_seed(0)
    config = ExperimentConfig()
    return save_run_folder(models.build_classifier(config.model, tasks.CINC2017), folder, config, tasks.CINC2017)


def save_run_folder(model, folder, config, task) -> Path:
    """Save ``model`` as a minimal run folder (``model.keras`` + ``config.json``) like train writes."""
    from ecgsl_keras.store import runs

    folder = Path(folder)
    model.save(folder / runs.MODEL_NAME)
    runs.write_json(folder / runs.CONFIG_NAME, {"experiment_config": config.to_dict(), "task": task.to_dict()})
    return folder


def with_large_p_waves(signal, fs, beats):
    """MIT-BIH 108's failure built on another record: a sharp P-like bump 0.7 x the median QRS amplitude 200 ms
    before every third beat (issue 21). Returns (the signal with the bumps, the beats that have one)."""
    from ecgsl_keras.data import signal as signal_lib

    amplitude = np.median(signal_lib.qrs_amplitudes(signal_lib.clean(signal, fs), beats, fs))
    x = signal.copy()
    t = np.arange(-int(0.06 * fs), int(0.06 * fs) + 1)
    targets = beats[2:-2:3]
    for b in targets:
        x[b - int(0.2 * fs) + t] += 0.7 * amplitude * np.exp(-(t / (0.015 * fs)) ** 2)
    return x, targets



def with_enlarged_p_waves(signal, fs, beats, gain=3.0, start_s=0.28, stop_s=0.08):
    """Every beat's P wave (``start_s`` to ``stop_s`` before R) scaled by up to ``gain`` about the line between
    the span's ends (a Hann-shaped weight, 1 at the ends): MIT-BIH 108's P waves, half the QRS, built on
    another record (issue 21)."""
    x = np.asarray(signal, np.float64).copy()
    for b in np.asarray(beats, np.int64)[1:-1]:
        start, stop = b - int(start_s * fs), b - int(stop_s * fs)
        piece = x[start:stop + 1]
        line = np.linspace(piece[0], piece[-1], piece.size)
        x[start:stop + 1] = line + (np.hanning(piece.size) * (gain - 1.0) + 1.0) * (piece - line)
    return x


# --- the in-graph guard against the Python one on the same peaks (tests/test_edge.py, test_guard_constants_config.py)


def unguarded_window(x, fs, config):
    """One window of the graph's (``x`` at ``fs``, resampled to ``config.target_fs``): ``(cleaned, peaks, shapes)`` --
    its ``config.clean_method`` signal, the detector's peaks without the guard and search-back (what ``EndToEnd.guard``
    is handed: 25 to 128 of them, checked) and their ``qrs_shapes`` (amplitude, sharpness, width) for
    ``signal.guard_keep``."""
    import dataclasses

    from ecgsl_keras.data import signal as signal_lib

    fs_t = config.target_fs
    x = signal_lib.resample(x, fs, fs_t)
    cleaned = signal_lib.clean(x, fs_t, config.clean_method)
    peaks = signal_lib.find_rpeaks(x, fs_t, dataclasses.replace(config, rpeak_guard_amplitude=0.0,
                                                                 rpeak_searchback=0.0), cleaned=cleaned)
    assert 25 < peaks.size <= 128
    return cleaned, peaks, signal_lib.qrs_shapes(cleaned, peaks, fs_t)


def graph_guard_keeps(config, cleaned, peaks, max_beats=128):
    """The peaks ``EndToEnd.guard`` of ``config`` keeps of ``peaks`` on ``cleaned`` (float32, as the graph holds it;
    the unused slots point at the last sample and are masked out)."""
    from ecgsl_keras.serving import edge

    pos = np.full(max_beats, cleaned.size - 1, np.int32)
    pos[: peaks.size] = peaks
    kept, ok = edge.EndToEnd(None, config, max_beats=max_beats, n_rr=3).guard(cleaned.astype(np.float32), pos,
                                                                              np.arange(max_beats) < peaks.size)
    return kept.numpy()[ok.numpy()]


# --- a stacked model's stacking.json entries (tests/test_v_gate_serving.py, tests/test_v_pause_serving.py) ------

def assert_stacking_json_refused(folder, classifier, match, **entries):
    """``classifier`` (a ``StackedClassifier``) saved to ``folder`` with ``entries`` written over its stacking.json:
    loading the folder raises a ``ConfigError`` matching ``match`` that names that file."""
    from ecgsl_keras.errors import ConfigError
    from ecgsl_keras.modeling.stacking import SPEC_NAME, StackedClassifier

    classifier.save(folder)
    spec = json.loads((folder / SPEC_NAME).read_text())
    (folder / SPEC_NAME).write_text(json.dumps(dict(spec, **entries)))
    with pytest.raises(ConfigError, match=match) as error:
        StackedClassifier.load(folder)
    assert error.value.path == str(folder / SPEC_NAME)


def preset_copy_without(folder, key, preset="mitdb-beats"):
    """A copy of ``preset`` in ``folder`` whose stacking.json a test rewrites, and its spec without ``key``."""
    import shutil

    from ecgsl_keras.store import presets

    folder = Path(folder) / preset
    shutil.copytree(presets.preset_dir(preset), folder)
    spec = json.loads((folder / "stacking.json").read_text())
    return folder, {k: v for k, v in spec.items() if k != key}


def tiny_beat_stacked(label_names, **rules):
    """A fitted per-beat ``StackedClassifier`` over two feature columns and the deep probabilities (200 random rows,
    5 boosting rounds), carrying the post-booster ``rules`` given (``v_gate=``, ``v_pause=``, ``v_template=`` specs):
    the small model the V rule tests save, load and serve."""
    from ecgsl_keras.modeling.stacking import StackedClassifier, probability_names

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.arange(200) % len(label_names)
    deep = np.full((200, len(label_names)), 1.0 / len(label_names))
    clf = StackedClassifier(["pre_rr_norm", "qrs_width_norm"], probability_names(label_names), label_names,
                            params={"num_boost_round": 5, "num_leaves": 4, "min_data_in_leaf": 5}, combine="average",
                            deep_weight=0.5, rows="beat", **rules)
    return clf.fit(np.concatenate([X, deep], axis=1), y)


def assert_rule_round_trips(folder, label_names, key, spec, p, evidence, expected, beats=None):
    """``tiny_beat_stacked`` with the post-booster rule ``key``'s ``spec``: stacking.json holds the entry as given and
    loads back to it; ``predict_proba`` of rows whose deep side is ``p`` (n, C) applies the rule after the average,
    as ``expected(average)`` (the rule's own ``apply``) says, on ``{key: evidence}`` (and ``beats``, for a rule that
    needs them) and without them raises the rule's message; a model without the entry writes no key and serves the
    average as before. Returns the loaded model with the rule."""
    from ecgsl_keras.modeling.stacking import SPEC_NAME, StackedClassifier

    tiny_beat_stacked(label_names, **{key: spec}).save(folder)
    assert json.loads((folder / SPEC_NAME).read_text())[key] == spec
    again = StackedClassifier.load(folder)
    assert getattr(again, key).to_spec() == spec
    X = np.concatenate([np.ones((len(p), 2)), p], axis=1)            # deep side = the constructed probabilities
    average = again.predict_proba(X, apply_gate=False)
    served = again.predict_proba(X, {key: evidence}, **({} if beats is None else {"beats": beats}))
    np.testing.assert_allclose(served, expected(average))
    with pytest.raises(ValueError, match=rf"evidence\['{key}'\]"):
        again.predict_proba(X)
    if beats is not None:                                              # the evidence without the beats
        with pytest.raises(ValueError, match=rf"evidence\['{key}'\] and the beats' own samples as beats"):
            again.predict_proba(X, {key: evidence})
    tiny_beat_stacked(label_names).save(folder)                        # no entry: no key, served as before
    assert key not in json.loads((folder / SPEC_NAME).read_text())
    plain = StackedClassifier.load(folder)
    assert getattr(plain, key) is None
    np.testing.assert_array_equal(plain.predict_proba(X), average)
    return again

"""Seed ensembles: several classifiers in one ``.keras`` model that averages their probabilities.

    from ecgsl_keras.modeling.ensemble import build_ensemble
    ensemble = build_ensemble([model_a, model_b])   # inputs beats, rr, padding_mask -> probabilities (mean)
    ensemble.save("ensemble/model.keras")           # loads with plain keras.models.load_model

Building one from run folders, with its config and validation metrics, is
``ecgsl_keras.training.ensemble_runs`` (``ecgsl ensemble``).

Members are nested under ``member_0``, ``member_1``, ... (copies of the members with their weights).
``models.attention_model(ensemble)`` gives ``probabilities`` and ``attention_weights``, the mean of
the members' attention weights, so ``evaluate``, ``inference`` and ``export`` treat an ensemble like one
classifier. The CLI also writes ``config.json`` beside the ``.keras`` (the members' experiment config,
task, ``stage: "ensemble"``, the members' paths) and, with ``--data``, ``metrics.json`` (validation
metrics of the ensemble), so the output folder is a run folder that ``ecgsl_keras.store.presets build``
accepts. Members must share task and signal config.
"""
from __future__ import annotations

import keras

from ecgsl_keras.errors import ConfigError
from ecgsl_keras.modeling.models import MEMBER_PREFIX, ensemble_members  # noqa: F401  (public here too)


def _member_copy(member, name: str):
    """``member`` rebuilt from its config under ``name``, with its weights."""
    config = member.get_config()
    config["name"] = name
    copy = member.__class__.from_config(config) if hasattr(member.__class__, "from_config") else None
    if copy is None or len(copy.weights) != len(member.weights):
        copy = keras.models.clone_model(member)
    copy.set_weights(member.get_weights())
    if copy.name != name:
        copy.name = name
    return copy


def build_ensemble(members, name: str = "ecgsl_ensemble"):
    """A functional model with the members' inputs (``beats``, ``rr``, ``padding_mask``), each member
    nested as ``member_<i>``, and output ``probabilities``: the mean of the members' probabilities.
    Members with one tensor input (the ResNet baseline on raw windows, ``modeling.resnet1d``) give an
    ensemble with that one input (same shape for every member)."""
    members = list(members)
    if not members:
        raise ValueError("an ensemble needs at least one member")
    first = members[0]
    if not isinstance(first.input, dict) and len(first.inputs) == 1:
        return _single_input_ensemble(members, name)
    if not isinstance(first.input, dict):
        raise ConfigError(f"model {first.name!r} does not take the beats/rr/padding_mask dict: ensembles are of "
                         "sequence classifiers (models.build_classifier)")
    keys = sorted(first.input)
    out_shape = tuple(first.output.shape[1:])
    for i, member in enumerate(members[1:], start=1):
        if not isinstance(member.input, dict) or sorted(member.input) != keys:
            raise ConfigError(f"member {i} ({member.name!r}) has inputs {sorted(getattr(member, 'input', {}) or [])}, "
                             f"member 0 has {keys}")
        if tuple(member.output.shape[1:]) != out_shape:
            raise ConfigError(f"member {i} ({member.name!r}) outputs {tuple(member.output.shape[1:])}, member 0 "
                             f"{out_shape}: members must classify the same labels")
    inputs = {key: keras.Input(first.input[key].shape[1:], dtype=first.input[key].dtype, name=key) for key in keys}
    return _averaged(inputs, members, name)


def _single_input_ensemble(members, name: str):
    """``build_ensemble`` of models with one tensor input each, e.g. (B, samples, 1) raw-signal windows."""
    first = members[0]
    shape, out_shape = tuple(first.inputs[0].shape[1:]), tuple(first.output.shape[1:])
    for i, member in enumerate(members[1:], start=1):
        if isinstance(member.input, dict) or len(member.inputs) != 1 or tuple(member.inputs[0].shape[1:]) != shape:
            raise ConfigError(f"member {i} ({member.name!r}) does not take member 0's one input of shape {shape}")
        if tuple(member.output.shape[1:]) != out_shape:
            raise ConfigError(f"member {i} ({member.name!r}) outputs {tuple(member.output.shape[1:])}, member 0 "
                             f"{out_shape}: members must classify the same labels")
    inputs = keras.Input(shape, dtype=first.inputs[0].dtype, name=getattr(first.inputs[0], "name", None) or "signal")
    return _averaged(inputs, members, name)


def _averaged(inputs, members, name: str):
    """The functional model of ``inputs`` whose output ``probabilities`` is the mean of the members' outputs."""
    outputs = [_member_copy(member, f"{MEMBER_PREFIX}{i}")(inputs) for i, member in enumerate(members)]
    if len(outputs) == 1:
        probabilities = keras.layers.Activation("linear", name="probabilities")(outputs[0])
    else:
        probabilities = keras.layers.Average(name="probabilities")(outputs)
    return keras.Model(inputs, probabilities, name=name)

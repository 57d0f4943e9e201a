"""Seed ensembles: several classifiers in one ``.keras`` model that averages their probabilities.

    from ecgsl_keras.ensemble import build_ensemble
    ensemble = build_ensemble([model_a, model_b])   # inputs beats, rr, padding_mask -> probabilities (mean)
    ensemble.save("ensemble/model.keras")           # loads with plain keras.models.load_model

    python -m ecgsl_keras.ensemble --members runs/seed1 runs/seed2 runs/seed3 --out runs/ensemble/model.keras \\
        [--data prepared/cinc2017 [--split validation]] [--overwrite]

Members are nested under ``member_0``, ``member_1``, ... (copies of the members with their weights).
``models.attention_model(ensemble)`` gives ``probabilities`` and ``attention_weights``, the mean of
the members' attention weights, so ``evaluate``, ``inference`` and ``export`` treat an ensemble like one
classifier. The CLI also writes ``config.json`` beside the ``.keras`` (the members' experiment config,
task, ``stage: "ensemble"``, the members' paths) and, with ``--data``, ``metrics.json`` (validation
metrics of the ensemble), so the output folder is a run folder that ``ecgsl_keras.pretrained build``
accepts. Members must share task and signal config.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from ecgsl_keras.errors import ConfigError, ECGSLError

log = logging.getLogger("ecgsl_keras.ensemble")

MEMBER_PREFIX = "member_"
ENSEMBLE_STAGE = "ensemble"


def _member_copy(member, name: str):
    """``member`` rebuilt from its config under ``name``, with its weights."""
    import keras

    import ecgsl_keras  # noqa: F401  (custom objects for from_config)

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
    nested as ``member_<i>``, and output ``probabilities``: the mean of the members' probabilities."""
    import keras

    members = list(members)
    if not members:
        raise ValueError("an ensemble needs at least one member")
    first = members[0]
    if not isinstance(first.input, dict):
        raise ValueError(f"model {first.name!r} does not take the beats/rr/padding_mask dict: ensembles are of "
                         "sequence classifiers (models.build_classifier)")
    keys = sorted(first.input)
    out_shape = tuple(first.output.shape[1:])
    for i, member in enumerate(members[1:], start=1):
        if not isinstance(member.input, dict) or sorted(member.input) != keys:
            raise ValueError(f"member {i} ({member.name!r}) has inputs {sorted(getattr(member, 'input', {}) or [])}, "
                             f"member 0 has {keys}")
        if tuple(member.output.shape[1:]) != out_shape:
            raise ValueError(f"member {i} ({member.name!r}) outputs {tuple(member.output.shape[1:])}, member 0 "
                             f"{out_shape}: members must classify the same labels")
    inputs = {key: keras.Input(first.input[key].shape[1:], dtype=first.input[key].dtype, name=key) for key in keys}
    outputs = [_member_copy(member, f"{MEMBER_PREFIX}{i}")(inputs) for i, member in enumerate(members)]
    if len(outputs) == 1:
        probabilities = keras.layers.Activation("linear", name="probabilities")(outputs[0])
    else:
        probabilities = keras.layers.Average(name="probabilities")(outputs)
    return keras.Model(inputs, probabilities, name=name)


def ensemble_members(model) -> list:
    """The nested member models of an ensemble from ``build_ensemble`` (``[]`` for other models)."""
    import keras

    return [layer for layer in getattr(model, "layers", [])
            if isinstance(layer, keras.Model) and layer.name.startswith(MEMBER_PREFIX)]


def attention_model(ensemble):
    """``{"probabilities", "attention_weights"}`` of an ensemble: the means over its members
    (shares the members' weights). Used by ``models.attention_model``."""
    import keras

    from ecgsl_keras import models

    members = ensemble_members(ensemble)
    if not members:
        raise ValueError(f"model {ensemble.name!r} is not an ensemble (no {MEMBER_PREFIX}N sub-models)")
    inputs = {key: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=key) for key, tensor in ensemble.input.items()}
    probabilities, attention = [], []
    for member in members:
        out = models.attention_model(member)(inputs)
        probabilities.append(out[models.PROBABILITIES])
        attention.append(out[models.ATTENTION_WEIGHTS])
    if len(members) == 1:
        mean_p = keras.layers.Activation("linear", name=models.PROBABILITIES)(probabilities[0])
        mean_a = keras.layers.Activation("linear", name=models.ATTENTION_WEIGHTS)(attention[0])
    else:
        mean_p = keras.layers.Average(name=models.PROBABILITIES)(probabilities)
        mean_a = keras.layers.Average(name=models.ATTENTION_WEIGHTS)(attention)
    return keras.Model(inputs, {models.PROBABILITIES: mean_p, models.ATTENTION_WEIGHTS: mean_a},
                       name=f"{ensemble.name}_with_attention")


# --- CLI ------------------------------------------------------------------------------------------

def build_from_runs(member_args, out, *, data=None, split: str = "validation", overwrite: bool = False) -> dict:
    """Load the members (run folders, ``.keras`` files or preset names), check they share task and
    signal config, save the ensemble at ``out`` with ``config.json`` (and ``metrics.json`` with
    ``data``) beside it. Returns the summary printed by the CLI."""
    import keras

    import ecgsl_keras  # noqa: F401
    from ecgsl_keras import runs
    from ecgsl_keras.config import signal_mismatch

    out = Path(out)
    if out.suffix != ".keras":
        raise ConfigError(out, "bad_config", "--out must be a .keras file")
    folder = out.parent
    config_file = folder / runs.CONFIG_NAME
    if not overwrite:
        for existing in (out, config_file, folder / runs.METRICS_NAME):
            if existing.exists():
                raise ECGSLError(f"{existing}: already exists; pass --overwrite to replace it (or choose another --out)")
    if len(member_args) < 2:
        raise ConfigError("<members>", "bad_config", "an ensemble needs at least two --members")
    start = time.perf_counter()
    members, paths, configs, infos, task = [], [], [], [], None
    for arg in member_args:
        path = runs.model_path(arg)
        config, member_task, info = runs.run_config(path)
        if info.get("stage") in ("autoencoder", "masked"):
            raise ConfigError(runs.find_run_dir(path) / runs.CONFIG_NAME, "bad_config",
                              f"a {info['stage']} run is not a classifier; ensembles are of finetune/supervised runs")
        if member_task is None:
            raise ConfigError(runs.find_run_dir(path) / runs.CONFIG_NAME, "bad_config", "no 'task' entry")
        if task is not None and member_task.to_dict() != task.to_dict():
            raise ConfigError(runs.find_run_dir(path) / runs.CONFIG_NAME, "bad_config",
                              f"task {member_task.name} ({list(member_task.label_names)}) differs from the first "
                              f"member's {task.name} ({list(task.label_names)})")
        if configs:
            diff = signal_mismatch(config.signal, configs[0].signal)
            if diff:
                raise ConfigError(runs.find_run_dir(path) / runs.CONFIG_NAME, "bad_config",
                                  f"signal config differs from the first member's ({'; '.join(diff)})")
        task = task or member_task
        try:
            members.append(keras.models.load_model(path, compile=False))
        except Exception as exc:
            raise ConfigError(path, "bad_model", f"cannot load the Keras model ({type(exc).__name__}: {exc})") from None
        paths.append(str(Path(path).resolve()))
        configs.append(config)
        infos.append(info)
    ensemble = build_ensemble(members)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{out.name}.tmp.keras"
    ensemble.save(tmp)
    tmp.replace(out)
    info = {"stage": ENSEMBLE_STAGE, "model_kind": "ensemble", "task": task.to_dict(),
            "experiment_config": configs[0].to_dict(), "members": paths, "status": runs.STATUS_FINISHED,
            "versions": runs.versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "members_data": [i.get("data") for i in infos], "members_seed": [i.get("seed") for i in infos]}
    for key in ("data", "data_splits"):   # the members' training data (the first member's)
        if infos[0].get(key) is not None:
            info[key] = infos[0][key]
    summary = {"out": str(out), "members": paths, "task": task.name, "parameters": int(ensemble.count_params())}
    if data is not None:
        from ecgsl_keras import evaluate

        evaluate._check_signal_config(_manifest_signal(data), configs[0], data, out)
        metrics = evaluate.evaluate_model(ensemble, data, split, configs[0], task)
        metrics.update(split=split, data=str(data))
        runs.write_json(folder / runs.METRICS_NAME, metrics)
        summary["metrics"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    elif (folder / runs.METRICS_NAME).exists():
        (folder / runs.METRICS_NAME).unlink()   # --overwrite: stale metrics of another model
    runs.write_json(config_file, info)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    return summary


def _manifest_signal(data):
    from tfrecords_tools import load_manifest

    return (load_manifest(data).get("metadata") or {}).get("signal_config")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ecgsl_keras.ensemble", description=__doc__.split("\n\n")[0])
    p.add_argument("--members", nargs="+", required=True, help="run folders, .keras files or preset names")
    p.add_argument("--out", required=True, help="the ensemble .keras (config.json is written beside it)")
    p.add_argument("--data", help="TFRecord folder: evaluate the ensemble on --split, write metrics.json")
    p.add_argument("--split", default="validation")
    p.add_argument("--overwrite", action="store_true")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        summary = build_from_runs(args.members, args.out, data=args.data, split=args.split, overwrite=args.overwrite)
    except (ECGSLError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build a seed ensemble (``ecgsl_keras.modeling.ensemble``) from run folders, ``.keras`` files or
preset names, with the run-folder files that ``ecgsl presets build`` accepts.

    ecgsl ensemble --members runs/seed1 runs/seed2 runs/seed3 --out runs/ensemble/model.keras \\
        [--data prepared/cinc2017 [--split validation]] [--overwrite]
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from ecgsl_keras.config import signal_mismatch
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.evaluation import evaluate
from ecgsl_keras.modeling.ensemble import build_ensemble
from ecgsl_keras.store import runs
from tfrecords_tools import load_manifest

log = logging.getLogger("ecgsl_keras.training.ensemble_runs")

ENSEMBLE_STAGE = "ensemble"


def build_from_runs(member_args, out, *, data=None, split: str = "validation", overwrite: bool = False) -> dict:
    """Load the members (run folders, ``.keras`` files or preset names), check they share task and
    signal config, save the ensemble at ``out`` with ``config.json`` (and ``metrics.json`` with
    ``data``) beside it. Returns the summary printed by the CLI."""
    import keras

    import ecgsl_keras.modeling  # noqa: F401  (registers the custom objects)

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

    return (load_manifest(data).get("metadata") or {}).get("signal_config")

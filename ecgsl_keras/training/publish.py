"""Build a pretrained preset folder (``ecgsl_keras.store.presets``) from a finished run folder or an
ensemble ``.keras`` with its ``config.json``: the model, its configs, thresholds, metadata with the
SHA-256 of every file, and the model card.

    ecgsl presets build --run runs/finetune --name cinc2017 --description "..." \\
        [--card-extra extra.md] [--overwrite] [--out-root DIR]
    ecgsl presets list
"""
from __future__ import annotations

import datetime
import json
import logging
import shutil
import tempfile
from pathlib import Path

from ecgsl_keras._version import __version__
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.store import runs
from ecgsl_keras.store.presets import (CARD_NAME, CONFIG_NAME, FORMAT_VERSION, METADATA_NAME, MODEL_NAME, NAME_PATTERN,
                                       NOT_A_MEDICAL_DEVICE, PACKAGE_ROOT, SIGNAL_CONFIG_NAME, THRESHOLDS_NAME,
                                       sha256_file)

log = logging.getLogger("ecgsl_keras.training.publish")

# --- building -------------------------------------------------------------------------------------

def _scalar_metrics(metrics: dict) -> dict:
    keep = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or key in ("best", "epochs", "seconds"):
            continue
        if isinstance(value, (int, float)) or value is None and key in ("auroc", "macro_auroc", "challenge_f1"):
            keep[key] = value
        elif key in ("per_class_f1", "per_class_auroc", "sensitivity", "positive_predictivity") and isinstance(value, dict):
            keep[key] = value
    return keep


def _portable(value):
    """A machine-independent form of a local path for the shipped files: its last two parts
    (``protocol/masked``), so a card names the run or data folder without this machine's layout."""
    if isinstance(value, (list, tuple)):
        return [_portable(v) for v in value]
    if not value or "://" in str(value):
        return value
    return Path(*Path(str(value)).parts[-2:]).as_posix()


def _validation_entry(run_dir: Path, info: dict) -> dict | None:

    file = run_dir / runs.METRICS_NAME
    if not file.is_file():
        return None
    metrics = runs.read_json(file)
    if not metrics.get("split"):   # trained without a validation split: no validation figures
        return None
    split = metrics.get("split")
    splits = info.get("data_splits") or {}
    entry = {
        "split": split,
        "data": _portable(metrics.get("data") or info.get("data")),
        "records": metrics.get("n"),
        "windows": metrics.get("windows"),
        "split_examples": (splits.get(split) or {}).get("examples"),
        "metrics": _scalar_metrics(metrics),
        "best_epoch": metrics.get("best"),
        "source": f"{runs.METRICS_NAME} of {_portable(run_dir)}",
    }
    if metrics.get("best"):
        entry["note"] = "The best epoch was chosen on this same split, so these figures are optimistic."
    if metrics.get("served_settings"):   # measured through predict_signal with the preset's serving settings
        entry["served_settings"] = True
    return entry


def _training_data(info: dict) -> dict:
    splits = info.get("data_splits") or {}
    out = {"data": _portable(info.get("data")), "splits": splits, "seed": info.get("seed"),
           "epochs_completed": info.get("epochs_completed"), "init_from": _portable(info.get("init_from"))}
    if info.get("members"):
        out["members"] = _portable(info["members"])
    return out


def _card(name: str, description: str, meta: dict, extra: str = "") -> str:
    task = meta.get("task") or {}
    training = meta.get("training_data") or {}
    validation = meta.get("validation")
    lines = [f"# {name}", "", description.strip(), "",
             f"- stage: `{meta.get('stage')}`, model kind: `{meta.get('model_kind')}`",
             f"- task: `{task.get('name')}` ({task.get('kind')}), labels: {', '.join(meta.get('label_names') or []) or 'none'}",
             f"- version {meta.get('version')}, created {meta.get('created')}, ecgsl_keras {meta.get('package_version')}",
             "", "## Training data", ""]
    splits = training.get("splits") or {}
    if splits:
        seed = f" (seed {training['seed']})" if training.get("seed") is not None else ""
        lines.append(f"Prepared TFRecords `{training.get('data')}`{seed}:")
        lines.extend(f"- {split}: {(counts or {}).get('examples')} examples, {(counts or {}).get('beats')} beats"
                     for split, counts in sorted(splits.items()))
    else:
        lines.append(f"Data: `{training.get('data')}`.")
    if training.get("members"):
        lines.append(f"Ensemble of {len(training['members'])} members (mean of their probabilities): "
                     + ", ".join(f"`{m}`" for m in training["members"]))
    if training.get("init_from"):
        lines.append(f"Initialised from `{training['init_from']}`.")
    members = ((meta.get("stacking") or {}).get("deep_source") or {}).get("members")
    if members:
        lines.append(f"Deep side: the mean of {len(members)} models' class probabilities, each on its own input of the "
                     "same signal: " + ", ".join(f"`{m['file']}` ({m['input']}"
                                                  + (f", windows of {m['samples']} samples" if m.get("samples") else "")
                                                  + ")" for m in members) + ".")
    lines += ["", "## Validation", ""]
    if validation:
        windows = f" ({validation['windows']} windows)" if validation.get("windows") is not None else ""
        size = (f"{validation['records']} records{windows}"
                if validation.get("records") is not None else f"{validation.get('split_examples')} examples")
        lines.append(f"Split `{validation.get('split')}` of `{validation.get('data')}`: {size}. "
                     f"{validation.get('note', '')}".rstrip())
        lines += ["", "| metric | value |", "| --- | --- |"]
        for key, value in sorted(validation["metrics"].items()):
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
            elif isinstance(value, float):
                value = f"{value:.4f}"
            lines.append(f"| {key} | {value} |")
    else:
        lines.append("No validation figures (a pre-training stage, or a run without a validation split).")
    lines += _serving_card(meta.get("serving") or {}, bool((validation or {}).get("served_settings")))
    lines += ["", "## Intended use", "",
              "Research and teaching: reproducing ECG Segment Learning, initialising fine-tuning "
              "(`train --init-from NAME`), and batch analysis of single-lead ECG recordings in millivolts "
              "preprocessed with the signal config in `signal_config.json` (the package does this).",
              "", "## Limitations", "",
              "- Trained and validated on the data named above only; performance on other populations, "
              "devices, leads or sampling conditions is unknown.",
              "- Where the validation split also chose the best epoch, its figures are optimistic.",
              "- Input must be one lead in millivolts at 50 to 2000 Hz with at least a few beats; records "
              "failing the signal checks are refused.",
              "", NOT_A_MEDICAL_DEVICE, "",
              "## Files", "", "| file | bytes | SHA-256 |", "| --- | --- | --- |"]
    for rel, entry in sorted((meta.get("files") or {}).items()):
        lines.append(f"| {rel} | {entry['size']} | `{entry['sha256']}` |")
    lines += ["", "## Use", "", "```python", "from ecgsl_keras import pretrained",
              f"model = pretrained.load({name!r})", "```", "",
              f"`python -m ecgsl_keras.evaluate --model {name} --dataset {_dataset_of(task)} --data-dir DIR`", ""]
    if extra.strip():
        lines += [extra.strip(), ""]
    return "\n".join(lines)


def _serving_overrides(experiment, serving, source) -> tuple:
    """(experiment config with ``serving`` applied, {"section.key": [trained value, served value]}).
    ``serving``: {section: {key: value}} of ``ExperimentConfig`` settings that change how the preset reads a
    record (e.g. ``train.predict_window_s``, ``signal.detect_at_native_rate``), not the trained model."""
    from ecgsl_keras.config import ExperimentConfig

    if not isinstance(serving, dict) or not all(isinstance(v, dict) for v in serving.values()):
        raise ConfigError(source, "bad_config", "serving settings must be a JSON object of sections "
                                                '(e.g. {"train": {"predict_window_s": 30}})')
    values = experiment.to_dict()
    changed = {}
    for section, settings in serving.items():
        if section not in values or not isinstance(values[section], dict):
            raise ConfigError(source, "bad_config", f"unknown serving section {section!r}; the sections are "
                                                    f"{sorted(k for k, v in values.items() if isinstance(v, dict))}")
        unknown = sorted(set(settings) - set(values[section]))
        if unknown:
            raise ConfigError(source, "bad_config", f"unknown {section} setting(s) {unknown}")
        for key, value in settings.items():
            changed[f"{section}.{key}"] = [values[section][key], value]
        values[section] = dict(values[section], **settings)
    try:
        return ExperimentConfig.from_dict(values), changed
    except ConfigError as error:
        raise ConfigError(source, "bad_config", f"serving settings: {error}") from None


def _serving_card(changed: dict, served_validation: bool = False) -> list:
    if not changed:
        return []
    figures = ("were measured with these served settings" if served_validation else "are those of training")
    lines = ["", "## Serving settings", "",
             "`predict_signal` reads a record with these settings, which differ from those the model was trained "
             f"with; the validation figures above {figures}.", "",
             "| setting | trained with | served with |", "| --- | --- | --- |"]
    lines += [f"| `{key}` | `{json.dumps(trained)}` | `{json.dumps(served)}` |" for key, (trained, served) in changed.items()]
    return lines


def _dataset_of(task: dict) -> str:
    """The built-in data set whose task is ``task`` (cinc2017 when none)."""
    from ecgsl_keras import tasks as tasks_lib

    names = [d for d, t in tasks_lib.DATASET_TASKS.items() if t == (task or {}).get("name")]
    return names[0] if names else "cinc2017"


def _run_files(run) -> tuple[Path, Path]:
    """(model file, run folder) of ``run``: a run folder or a ``.keras`` with config.json beside it."""
    run = Path(run)
    if run.is_dir():
        model = run / MODEL_NAME
        folder = run
    else:
        model, folder = run, run.parent
    if not model.is_file():
        raise ConfigError(model, "missing_file", "no model file to build a preset from (unfinished run?)")
    if model.suffix != ".keras":
        raise ConfigError(model, "bad_model", "expected a .keras model file")
    if not (folder / CONFIG_NAME).is_file():
        raise ConfigError(folder / CONFIG_NAME, "missing_file", "the model's run folder has no config.json")
    return model, folder


def _ship_signal_members(members, out: Path, task) -> list:
    """Copy the deep members on the continuous signal (``.keras`` files of one (B, samples, 1) input, e.g. a
    ResNet-baseline ensemble) into ``out``, each checked by loading it; returns their ``deep_source["members"]``
    entries after the folder's own model (``serving.stacked``: the deep side is the mean of the members)."""
    from ecgsl_keras.modeling.files import load_keras_model
    from ecgsl_keras.serving import stacked

    entries = [{"file": MODEL_NAME, "input": stacked.INPUT_BEATS}]
    for source in members:
        source = Path(source)
        name = source.name
        if name in (MODEL_NAME,) or any(e["file"] == name for e in entries) or source.suffix != ".keras":
            raise ConfigError(source, "bad_config", f"a deep member needs its own .keras file name (not {MODEL_NAME}, "
                                                    "not twice)")
        n_classes = len(task["label_names"]) if task else None
        member = stacked.SignalMember(load_keras_model(source), name, source, n_classes=n_classes)
        shutil.copyfile(source, out / name)
        entries.append({"file": name, "input": stacked.INPUT_SIGNAL, "samples": member.samples,
                        "model_name": member.model.name, "parameters": int(member.model.count_params()),
                        "sha256": sha256_file(out / name)})
    return entries


def _ship_booster(folder, out: Path, task, signal_members=()) -> dict:
    """Copy a saved ``StackedClassifier`` (checked by loading it) into ``out``: the booster gzip-compressed
    (``booster.txt.gz``, ~2.4x smaller; ``StackedClassifier.load`` reads it) and its spec pointing at it.
    ``signal_members``: deep members on the continuous signal shipped beside ``model.keras``; the spec's
    ``deep_source["members"]`` then lists them (``_ship_signal_members``)."""
    import gzip
    import hashlib

    from ecgsl_keras.modeling import stacking

    clf = stacking.StackedClassifier.load(folder)           # ConfigError naming a missing or corrupt file
    if task and list(clf.label_names) != list(task["label_names"]):
        raise ConfigError(Path(folder) / stacking.SPEC_NAME, "bad_config",
                          f"booster labels {clf.label_names} differ from the model's {task['label_names']}")
    spec = runs.read_json(Path(folder) / stacking.SPEC_NAME)
    source = Path(folder) / spec.get("booster_file", stacking.BOOSTER_NAME)
    text = source.read_bytes() if source.suffix != ".gz" else gzip.decompress(source.read_bytes())
    packed = gzip.compress(text, mtime=0)                   # mtime 0: the same booster gives the same bytes
    (out / (stacking.BOOSTER_NAME + ".gz")).write_bytes(packed)
    spec.update(booster_file=stacking.BOOSTER_NAME + ".gz", booster_sha256=hashlib.sha256(packed).hexdigest())
    if signal_members:
        if clf.deep_names != stacking.probability_names(clf.label_names):
            raise ConfigError(Path(folder) / stacking.SPEC_NAME, "bad_config", "a mixed deep side averages class "
                              f"probabilities; this booster's deep columns are {clf.deep_names[:4]}...")
        spec["deep_source"] = dict(spec.get("deep_source") or {}, kind="probabilities",
                                   members=_ship_signal_members(signal_members, out, task))
    runs.write_json(out / stacking.SPEC_NAME, spec)
    return spec


def build(run, name: str, description: str, *, card_extra=None, overwrite: bool = False, root=None,
          version: str = "1", booster=None, signal_members=(), serving=None, config_from=None) -> dict:
    """Build preset ``name`` from a finished run folder (or a ``.keras`` with its run's config.json,
    e.g. an ensemble from ``ecgsl_keras.modeling.ensemble``) into ``root`` (default: the package's presets
    folder). Written in a temporary folder and renamed into place; an existing preset is replaced
    only with ``overwrite``. ``booster``: a saved ``StackedClassifier`` folder (``modeling.stacking``) shipped
    beside the model (its booster gzip-compressed, ``booster.txt.gz``), so that the preset serves the deep model
    and the booster together (``serving.stacked``). ``signal_members``: with ``booster``, ``.keras`` models of the
    continuous signal (e.g. a ResNet-baseline ensemble, ``modeling.ensemble.build_ensemble``) shipped beside
    ``model.keras``: the deep side is then the mean of all their class probabilities (a mixed deep side,
    ``serving.stacked``). ``serving``: {section: {key: value}} settings of the run's ``ExperimentConfig`` that the
    preset serves with instead of the trained ones (how ``predict_signal`` reads a record, e.g.
    ``{"train": {"predict_window_s": 30}}``): written into its ``config.json`` and ``signal_config.json``, listed
    (trained and served value) in the metadata's ``serving`` and the card. ``config_from``: a preset folder of
    the same run whose ``config.json`` and ``signal_config.json`` are shipped byte for byte instead of being written
    again (a rebuild that changes only the booster side: re-serialising would add the fields this version of
    ``ExperimentConfig`` gained since, with their defaults); its experiment config must be the run's. Returns the
    metadata."""
    import keras

    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(name, "bad_config", "preset name must be letters, digits, '_', '-' or '.', "
                                              "starting with a letter or digit")
    out_root = Path(root) if root is not None else PACKAGE_ROOT
    target = out_root / name
    if target.exists() and not overwrite:
        raise ECGSLError(f"{target}: preset {name!r} already exists; pass --overwrite to replace it")
    model_file, run_dir = _run_files(run)
    config_file = run_dir / CONFIG_NAME
    info = runs.read_json(config_file)
    if info.get("status") == runs.STATUS_RUNNING:
        raise ConfigError(config_file, "bad_config", "the run is unfinished (status 'running'); finish it first")
    experiment, _, _ = runs.run_config(run_dir)
    serving_changed = {}
    if serving:
        experiment, serving_changed = _serving_overrides(experiment, serving, name)
    try:
        model = keras.models.load_model(model_file, compile=False)
    except Exception as exc:
        raise ConfigError(model_file, "bad_model", f"cannot load the Keras model ({type(exc).__name__}: {exc})") from None
    extra = ""
    if card_extra:
        try:
            extra = Path(card_extra).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(card_extra, "missing_file", f"cannot read the card text ({exc.strerror})") from None
    task = info.get("task") if isinstance(info.get("task"), dict) else None
    preset_config = {"experiment_config": experiment.to_dict(), "task": task, "stage": info.get("stage"),
                     "model_kind": info.get("model_kind", "ecgsl"), "status": runs.STATUS_FINISHED,
                     "preset": name, "source_run": _portable(run_dir.resolve())}
    for key in ("members", "best", "data", "data_splits", "seed", "versions", "lead"):   # lead: serving's lead rule
        if key in info:
            preset_config[key] = _portable(info[key]) if key in ("members", "data") else info[key]

    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_root, prefix=f".{name}.tmp-"))
    try:
        shutil.copyfile(model_file, tmp / MODEL_NAME)
        if config_from is not None:   # the preset's own files, once they are shown to be this run's config
            shipped, _, _ = runs.run_config(Path(config_from))
            if shipped != experiment or serving:
                raise ConfigError(Path(config_from) / CONFIG_NAME, "bad_config", "config_from must hold the run's "
                                  "own experiment config (and serve it unchanged)")
            for file in (CONFIG_NAME, SIGNAL_CONFIG_NAME):
                shutil.copyfile(Path(config_from) / file, tmp / file)
        else:
            runs.write_json(tmp / CONFIG_NAME, preset_config)
            experiment.signal.save(tmp / SIGNAL_CONFIG_NAME)
        if (run_dir / THRESHOLDS_NAME).is_file():
            shutil.copyfile(run_dir / THRESHOLDS_NAME, tmp / THRESHOLDS_NAME)
        if signal_members and not booster:
            raise ConfigError(name, "bad_config", "deep members on the signal are shipped with a booster (--booster)")
        stacking_spec = _ship_booster(booster, tmp, task, signal_members) if booster else None
        meta = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "description": description,
            "version": str(version),
            "task": task,
            "label_names": list(task["label_names"]) if task else [],
            "stage": info.get("stage"),
            "model_kind": info.get("model_kind", "ecgsl"),
            "model_name": model.name,
            "parameters": int(model.count_params()),
            "training_data": _training_data(info),
            "validation": _validation_entry(run_dir, info),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "package_version": __version__,
            "versions": info.get("versions"),
            "source_run": _portable(run_dir.resolve()),
        }
        if serving_changed:
            meta["serving"] = serving_changed
        if stacking_spec:
            from ecgsl_keras.modeling.stacking import RULE_KEYS

            meta["stacking"] = {key: stacking_spec[key] for key in ("combine", "deep_weight", "deep_source", *RULE_KEYS)
                                if key in stacking_spec}
            rows = stacking_spec.get("rows", "record")   # record features, or per-beat features of a per-beat model
            meta["stacking"]["rows"] = rows
            meta["stacking"][f"{rows}_features"] = len(stacking_spec["feature_names"])
            if signal_members:
                meta["parameters"] += sum(e["parameters"] for e in stacking_spec["deep_source"]["members"][1:])

        def file_entries():
            return {p.name: {"sha256": sha256_file(p), "size": p.stat().st_size}
                    for p in sorted(tmp.iterdir()) if p.is_file() and p.name not in (METADATA_NAME, CARD_NAME)}

        meta["files"] = file_entries()
        (tmp / CARD_NAME).write_text(_card(name, description, meta, extra), encoding="utf-8")
        meta["files"] = file_entries()
        meta["files"][CARD_NAME] = {"sha256": sha256_file(tmp / CARD_NAME), "size": (tmp / CARD_NAME).stat().st_size}
        runs.write_json(tmp / METADATA_NAME, meta)
        # mkdtemp made the folder private (0700): a shipped preset is readable by everyone
        tmp.chmod(0o755)
        for file in tmp.iterdir():
            file.chmod(0o644)
        runs.replace_dir(tmp, target, overwrite=True)   # refused above unless overwrite
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("preset %s written to %s", name, target)
    return meta

"""Shipped pretrained models, loadable by name (in the manner of keras-hub presets).

    import ecgsl_keras.pretrained as pretrained
    pretrained.list_presets()                      # ["cinc2017", "encoder", ...]
    model = pretrained.load("cinc2017")            # keras.Model, files checked against their SHA-256
    pretrained.metadata("cinc2017")["validation"]  # figures and the records they were computed on
    pretrained.signal_config("cinc2017")           # the SignalConfig the model was trained with

Every CLI that takes a model (``evaluate``, ``predict``, ``export --model NAME``, ``train --init-from
NAME``) also takes a preset name: a string with no path separator that is not an existing path.

A preset is a folder ``<root>/<name>/``::

    model.keras          the full Keras model (plain keras.models.load_model after import ecgsl_keras)
    config.json          {"experiment_config", "task", "stage", "model_kind", ...} (a run folder's config.json)
    signal_config.json   the SignalConfig the model was trained with
    thresholds.json      multi-label models: per-class thresholds chosen on validation data
    metadata.json        name, description, version, task, label names, stage, training data, validation
                         metrics (with the records they were computed on), created, package version, and
                         the SHA-256 and size of every other file of the folder
    README.md            the model card

Roots searched, first match wins: the folders in the environment variable ``ECGSL_PRESETS_DIR``
(``os.pathsep``-separated), then the package's ``ecgsl_keras/presets``. Every function takes
``root=`` to search one folder only.

Build a preset from a finished run folder (or an ensemble ``.keras`` with its ``config.json``)::

    python -m ecgsl_keras.pretrained build --run runs/finetune --name cinc2017 --description "..." \\
        [--card-extra extra.md] [--overwrite] [--out-root DIR]
    python -m ecgsl_keras.pretrained list
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from ecgsl_keras.errors import ConfigError, ECGSLError

log = logging.getLogger("ecgsl_keras.pretrained")

PACKAGE_ROOT = Path(__file__).resolve().parent / "presets"
ENV_VAR = "ECGSL_PRESETS_DIR"
MODEL_NAME = "model.keras"
CONFIG_NAME = "config.json"
SIGNAL_CONFIG_NAME = "signal_config.json"
METADATA_NAME = "metadata.json"
THRESHOLDS_NAME = "thresholds.json"
CARD_NAME = "README.md"
FORMAT_VERSION = 1
REQUIRED_FILES = (MODEL_NAME, CONFIG_NAME)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NOT_A_MEDICAL_DEVICE = ("This model is not a medical device: it has not been cleared or approved by any regulator "
                        "and must not be used to diagnose, treat or monitor patients.")
_HASH_CHUNK = 1 << 20


# --- where presets live ---------------------------------------------------------------------------

def roots(root=None) -> list[Path]:
    """Folders searched for presets: ``[root]`` when given, else ``$ECGSL_PRESETS_DIR`` entries then
    the package's ``presets/`` folder."""
    if root is not None:
        return [Path(root)]
    extra = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return extra + [PACKAGE_ROOT]


def _is_preset_folder(folder: Path) -> bool:
    return (folder.is_dir() and not folder.name.startswith((".", "_"))
            and any((folder / name).exists() for name in (METADATA_NAME, MODEL_NAME, CONFIG_NAME)))


def _found(root=None) -> dict:
    """{name: folder}, the first root holding a name winning."""
    found = {}
    for folder in roots(root):
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if _is_preset_folder(child):
                found.setdefault(child.name, child)
    return found


def list_presets(root=None) -> list[str]:
    """Names of the presets found (sorted)."""
    return sorted(_found(root))


def looks_like_name(value) -> bool:
    """A string with no path separator that is not an existing path (a candidate preset name)."""
    if not isinstance(value, (str, os.PathLike)):
        return False
    text = os.fspath(value)
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return bool(text) and not any(sep in text for sep in seps) and text not in (".", "..") and not Path(text).exists()


def is_preset_name(value, root=None) -> bool:
    """A string with no path separator, not an existing path, naming a preset."""
    return looks_like_name(value) and os.fspath(value) in _found(root)


def _unknown(name, root=None) -> ConfigError:
    names = list_presets(root)
    searched = [str(r) for r in roots(root)]
    return ConfigError(name, "unknown_preset",
                       f"no such file or folder, and no pretrained model of that name (presets: "
                       f"{names if names else 'none installed'}; searched {searched}; "
                       f"set {ENV_VAR} to add a folder)")


def preset_dir(name, root=None) -> Path:
    """The folder of preset ``name``; ``ConfigError`` listing the presets when there is none."""
    found = _found(root)
    name = os.fspath(name)
    if name not in found:
        raise _unknown(name, root)
    return found[name]


def path(name, root=None, verify: bool = False) -> Path:
    """The ``model.keras`` of preset ``name`` (``verify``: check every file against metadata.json)."""
    folder = preset_dir(name, root)
    if verify:
        verify_preset(name, root)
    return folder / MODEL_NAME


# --- integrity ------------------------------------------------------------------------------------

def sha256_file(file) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_json(file) -> dict:
    from ecgsl_keras.runs import read_json

    values = read_json(file)
    if not isinstance(values, dict):
        raise ConfigError(file, "bad_config", "expected a JSON object")
    return values


def metadata(name, root=None) -> dict:
    """The preset's ``metadata.json``."""
    file = preset_dir(name, root) / METADATA_NAME
    if not file.is_file():
        raise ConfigError(file, "missing_file", f"preset {name!r} has no {METADATA_NAME} (incomplete or hand-made "
                          "preset folder; rebuild it with python -m ecgsl_keras.pretrained build)")
    return _read_json(file)


def verify_preset(name, root=None) -> dict:
    """Check the preset's files against the SHA-256 and sizes in its metadata.json; returns the
    metadata. A missing, truncated or changed file raises ``ConfigError`` naming it."""
    folder = preset_dir(name, root)
    meta = metadata(name, root)
    files = meta.get("files")
    if not isinstance(files, dict):
        raise ConfigError(folder / METADATA_NAME, "bad_config", "no 'files' entry (SHA-256 of the preset's files)")
    for required in REQUIRED_FILES:
        if required not in files:
            raise ConfigError(folder / METADATA_NAME, "bad_config", f"lists no SHA-256 for {required}")
    for rel, expected in sorted(files.items()):
        file = folder / rel
        if not file.is_file():
            raise ConfigError(file, "missing_file", f"file of preset {name!r} is missing (listed in {METADATA_NAME})")
        size = file.stat().st_size
        if expected.get("size") is not None and size != int(expected["size"]):
            raise ConfigError(file, "corrupt_file", f"file of preset {name!r} is corrupt: {size} bytes, "
                              f"{METADATA_NAME} says {expected['size']}")
        actual = sha256_file(file)
        if actual != expected.get("sha256"):
            raise ConfigError(file, "corrupt_file", f"file of preset {name!r} is corrupt: SHA-256 {actual} does not "
                              f"match {METADATA_NAME} ({expected.get('sha256')})")
    return meta


def load(name, compile: bool = False, root=None):
    """The preset's Keras model, after checking its files (``verify_preset``)."""
    import keras

    import ecgsl_keras  # noqa: F401  (registers the custom layers)

    verify_preset(name, root)
    file = path(name, root)
    try:
        return keras.models.load_model(file, compile=compile)
    except Exception as exc:  # zip, h5 and deserialisation errors of many types
        raise ConfigError(file, "bad_model", f"cannot load the Keras model of preset {name!r} "
                          f"({type(exc).__name__}: {exc})") from None


def config(name, root=None) -> dict:
    """The preset's ``config.json`` (``experiment_config``, ``task``, ``stage``, ``model_kind``)."""
    return _read_json(preset_dir(name, root) / CONFIG_NAME)


def signal_config(name, root=None):
    """The ``SignalConfig`` the preset's model was trained with (``signal_config.json``)."""
    from ecgsl_keras.config import SignalConfig

    file = preset_dir(name, root) / SIGNAL_CONFIG_NAME
    if not file.is_file():
        raise ConfigError(file, "missing_file", f"preset {name!r} has no {SIGNAL_CONFIG_NAME}")
    return SignalConfig.load(file)


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
    from ecgsl_keras import runs

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
    lines += ["", "## Validation", ""]
    if validation:
        size = (f"{validation['records']} records ({validation.get('windows')} windows)"
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


def build(run, name: str, description: str, *, card_extra=None, overwrite: bool = False, root=None,
          version: str = "1") -> dict:
    """Build preset ``name`` from a finished run folder (or a ``.keras`` with its run's config.json,
    e.g. an ensemble from ``ecgsl_keras.ensemble``) into ``root`` (default: the package's presets
    folder). Written in a temporary folder and renamed into place; an existing preset is replaced
    only with ``overwrite``. Returns the metadata."""
    import keras

    import ecgsl_keras
    from ecgsl_keras import runs

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
    for key in ("members", "best", "data", "data_splits", "seed", "versions"):
        if key in info:
            preset_config[key] = _portable(info[key]) if key in ("members", "data") else info[key]

    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_root, prefix=f".{name}.tmp-"))
    try:
        shutil.copyfile(model_file, tmp / MODEL_NAME)
        runs.write_json(tmp / CONFIG_NAME, preset_config)
        experiment.signal.save(tmp / SIGNAL_CONFIG_NAME)
        if (run_dir / THRESHOLDS_NAME).is_file():
            shutil.copyfile(run_dir / THRESHOLDS_NAME, tmp / THRESHOLDS_NAME)
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
            "package_version": ecgsl_keras.__version__,
            "versions": info.get("versions"),
            "source_run": _portable(run_dir.resolve()),
        }

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


# --- CLI ------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ecgsl_keras.pretrained", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build a preset from a finished run folder or an ensemble .keras")
    b.add_argument("--run", required=True, help="run folder, or a .keras file with its run's config.json beside it")
    b.add_argument("--name", required=True, help="preset name (letters, digits, _ - .)")
    b.add_argument("--description", required=True, help="one-line description")
    b.add_argument("--card-extra", help="Markdown file appended to the model card")
    b.add_argument("--version", default="1", help="preset version (default 1)")
    b.add_argument("--overwrite", action="store_true", help="replace an existing preset of that name")
    b.add_argument("--out-root", help=f"presets folder to write into (default {PACKAGE_ROOT})")
    ls = sub.add_parser("list", help="print the presets found as one JSON line")
    ls.add_argument("--root", help=f"search this folder only (default: ${ENV_VAR}, then the package)")
    v = sub.add_parser("verify", help="check a preset's files against their SHA-256")
    v.add_argument("name")
    v.add_argument("--root", help="search this folder only")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "build":
            meta = build(args.run, args.name, args.description, card_extra=args.card_extra,
                         overwrite=args.overwrite, root=args.out_root, version=args.version)
            out_root = Path(args.out_root) if args.out_root else PACKAGE_ROOT
            result = {"preset": args.name, "path": str(out_root / args.name), "files": meta["files"],
                      "validation": (meta.get("validation") or {}).get("metrics")}
        elif args.command == "list":
            entries = []
            for name in list_presets(args.root):
                try:
                    meta = metadata(name, args.root)
                    entries.append({"name": name, "description": meta.get("description"),
                                    "task": (meta.get("task") or {}).get("name"), "stage": meta.get("stage"),
                                    "path": str(preset_dir(name, args.root))})
                except ECGSLError as error:
                    entries.append({"name": name, "error": str(error)})
            result = {"presets": entries, "roots": [str(r) for r in roots(args.root)]}
        else:
            meta = verify_preset(args.name, args.root)
            result = {"preset": args.name, "ok": True, "files": sorted(meta["files"])}
    except ECGSLError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

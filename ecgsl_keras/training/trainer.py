"""Train one ECG-SL stage on prepared TFRecords and write its run folder.

    python -m ecgsl_keras.train --stage autoencoder --data prepared/cinc2017 --run-dir runs/ae
    python -m ecgsl_keras.train --stage masked      --data prepared/cinc2017 --run-dir runs/masked --init-from runs/ae
    python -m ecgsl_keras.train --stage finetune    --data prepared/cinc2017 --run-dir runs/ft --init-from runs/masked
    python -m ecgsl_keras.train --stage supervised  --data prepared/cinc2017 --run-dir runs/sup [--model resnet1d]

Stages:

* ``autoencoder``: the beat autoencoder on single beats (``make_dataset(mode="beat")``), MSE.
* ``masked``: masked-segment reconstruction over beat sequences, initialised from an autoencoder run
  (``--init-from``); loss = MSE of the masked beats only.
* ``finetune``: the classifier (or per-beat classifier for per-beat tasks) initialised from a masked
  (or autoencoder) run's ``model.keras`` by layer name (``models.transfer_weights``).
* ``supervised``: the same classifier from random weights (the "no pre-training" ablation);
  ``--model resnet1d`` trains the 1-D ResNet baseline instead. When the data were prepared with
  ``--raw-signal`` its input is the continuous signal (cleaned, resampled to 100 Hz, normalised):
  random crops of ``model.raw_samples`` samples (default 3,000 = 30 s, zero-padded when shorter) in
  training, consecutive windows averaged per record in evaluation. Otherwise the TFRecords hold
  beats only, and its input is the beat sequence laid end to end, (B, max_beats * beat_len, 1),
  zeros after the last beat: the signal around each R-peak, in order, with the overlaps and gaps
  between neighbouring beat windows as they are, which is not the continuous recording (say so when
  comparing with published ResNet figures). ``config.json`` records which (``raw_input``).

Configuration: ``--config`` (an ``ExperimentConfig`` JSON), else the model part of the ``--init-from``
run and defaults; CLI flags override; the signal part always comes from the data's manifest (the
beats were cut with it). The batch size is per replica.

Every epoch the validation split (when the data have one) is evaluated on every worker by
``ecgsl_keras.evaluation.evaluate`` (windows averaged per record) and ``val_loss`` plus the task metrics
(``val_macro_f1``, ``val_challenge_f1``, ``val_macro_auroc``, ...) are added to the epoch logs; the
best checkpoint and early stopping follow the task's monitor (macro F1, or macro AUROC for
multi-label tasks; ``val_loss`` when pre-training). See ``ecgsl_keras.store.runs`` for the run folder.
A run killed mid-way resumes where its last backup was taken when the same command is run again.
The last line of stdout is a JSON summary.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import shutil
import sys
import time
from pathlib import Path

from ecgsl_keras import fileio
from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ExperimentConfig, SignalConfig, signal_mismatch
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.evaluation import evaluate
from ecgsl_keras.store import runs
from ecgsl_keras.training import strategy as strategy_lib
from ecgsl_keras.training.callbacks import (CALLBACK_STATE_NAME, AtomicModelCheckpoint,  # noqa: F401
                                            CallbackState, ValidationMetrics, save_model_atomic,
                                            tensorboard_available)
# The data side of training lives in training.inputs; these names stay importable from here.
from ecgsl_keras.training.inputs import (TRAIN_SPLIT, VALIDATION_SPLIT, _classifier_element,  # noqa: F401
                                         _split_counts, class_weights)
from ecgsl_keras.training.stages import MODELS, PRETRAINING, STAGES, get_stage  # noqa: F401
from tfrecords_tools import fs, label_info, load_manifest

log = logging.getLogger("ecgsl_keras.training.trainer")



@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """Every option of one ``train`` run besides the stage, the data and the run folder: built once
    (``cli.train`` from the command line, or ``train``'s keyword arguments) and passed as a whole, to
    the remote-run-folder wrapper too. ``None``: from the config (``--config``, the ``--init-from``
    run's model, the defaults); ``apply`` puts the set ones into the ``ExperimentConfig``."""

    task: str | None = None
    init_from: object = None
    config: object = None
    epochs: int | None = None
    batch_size: int | None = None
    strategy: object = "auto"
    seed: int | None = None
    model: str = "ecgsl"
    pooling: str | None = None
    learning_rate: float | None = None
    early_stopping_patience: int | None = None
    augment: bool | None = None
    label_smoothing: float | None = None
    encoder_lr_multiplier: float | None = None
    label_fraction: float | None = None
    focal_gamma: float | None = None
    use_class_weights: bool | None = None
    encoder_warmup_epochs: int | None = None
    adapt_signal: bool = False
    start_from: object = None       # pre-training stages: warm start from a run / preset (``_warm_start``)
    overwrite: bool = False
    verbose: int | None = None
    command: object = None

    # option -> TrainConfig field
    TRAIN_FIELDS = {"epochs": "epochs", "batch_size": "batch_size", "seed": "seed", "learning_rate": "learning_rate",
                    "early_stopping_patience": "early_stopping_patience", "augment": "augment",
                    "label_smoothing": "label_smoothing", "encoder_lr_multiplier": "encoder_lr_multiplier",
                    "encoder_warmup_epochs": "encoder_warmup_epochs", "label_fraction": "label_fraction",
                    "focal_gamma": "focal_gamma", "use_class_weights": "class_weights"}

    def train_overrides(self) -> dict:
        """The ``TrainConfig`` fields these options set (those not None)."""
        return {field: getattr(self, name) for name, field in self.TRAIN_FIELDS.items()
                if getattr(self, name) is not None}

    def apply(self, config: ExperimentConfig) -> ExperimentConfig:
        """``config`` with the options set here (``pooling`` into the model, the rest into ``train``), validated."""
        model = dataclasses.replace(config.model, pooling=self.pooling) if self.pooling else config.model
        out = ExperimentConfig(signal=config.signal, model=model,
                               train=dataclasses.replace(config.train, **self.train_overrides()))
        out.validate()
        out.model.validate()
        out.train.validate()
        return out


# --- configuration --------------------------------------------------------------------------------

def resolve_config(config, manifest: dict, data, *, init_info=None, epochs=None, batch_size=None, seed=None,
                   learning_rate=None, pooling=None, early_stopping_patience=None) -> ExperimentConfig:
    """The ExperimentConfig of a run: ``config`` (object, JSON path or None), else the model part of
    the ``--init-from`` run; CLI overrides; signal config from the manifest."""
    if isinstance(config, ExperimentConfig):
        base = config
    elif config is not None:
        base = ExperimentConfig.load(config)
    elif init_info is not None:
        previous = ExperimentConfig.from_dict(init_info["experiment_config"])
        base = ExperimentConfig(signal=previous.signal, model=previous.model)
    else:
        base = ExperimentConfig()
    manifest_path = Path(data) / "manifest.json"
    values = (manifest.get("metadata") or {}).get("signal_config")
    if values:
        try:
            signal = SignalConfig.from_dict(values)
        except ConfigError as exc:
            raise ConfigError(manifest_path, "bad_config", f"signal_config: {str(exc).split(': ', 1)[-1]}") from None
        if signal != base.signal and config is not None:
            log.warning("using the signal config the data were prepared with (%s), not the one of --config",
                        manifest_path)
    else:
        signal = base.signal
        log.warning("%s has no signal_config; assuming the config's", manifest_path)
    if (manifest.get("beat_len") not in (None, signal.beat_width)
            or manifest.get("n_rr") not in (None, signal.n_rr_features)):
        raise ConfigError(manifest_path, "bad_config", f"shards hold beats of {manifest.get('beat_len')} samples and "
                          f"{manifest.get('n_rr')} RR features, the signal config says {signal.beat_width} and "
                          f"{signal.n_rr_features}")
    model = dataclasses.replace(base.model, beat_len=signal.beat_len, beat_channels=signal.beat_channels,
                                n_rr_features=signal.n_rr_features,
                                **({"pooling": pooling} if pooling else {}))
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed),
                                   ("learning_rate", learning_rate),
                                   ("early_stopping_patience", early_stopping_patience)) if v is not None}
    train = dataclasses.replace(base.train, **overrides)
    out = ExperimentConfig(signal=signal, model=model, train=train)
    out.validate()
    out.model.validate()
    out.train.validate()
    return out


def _reference_added(init_signal: dict, data_signal: dict) -> bool:
    """True when the data's beats differ from the init model's ONLY by a reference channel the init model
    lacked (``beat_reference`` "none" there, another here): the channel extension of ``--init-from``."""
    diff = signal_mismatch(data_signal, init_signal)
    return (len(diff) == 1 and diff[0].startswith("beat_reference:")
            and SignalConfig.from_dict(init_signal).beat_reference == "none")


def resolve_task(manifest: dict, data, task_name=None):
    """The data's task (manifest ``label_info``), or ``task_name`` checked against it. None for
    unlabelled data."""

    info = label_info(manifest)
    manifest_path = Path(data) / "manifest.json"
    found = None
    if isinstance(info.get("task"), dict):
        found = tasks_lib.Task.from_dict(info["task"])
    elif info.get("kind") and info.get("label_names"):
        found = tasks_lib.Task(name=str(info.get("task") or "data"), label_names=tuple(info["label_names"]),
                               kind=info["kind"])
    if task_name is None:
        return found
    task = tasks_lib.get_task(task_name)
    if found is not None and (found.kind != task.kind or tuple(found.label_names) != tuple(task.label_names)):
        raise ConfigError(manifest_path, "bad_config", f"--task {task_name} ({task.kind}, {list(task.label_names)}) "
                          f"does not match the data's labels ({found.kind}, {list(found.label_names)})")
    return task


# --- the run --------------------------------------------------------------------------------------

def _worker_paths(run_dir: Path, strategy) -> runs.RunPaths:
    task_type, task_id = strategy_lib.task_role(strategy)
    return runs.RunPaths(run_dir / runs.WORKERS_DIR / f"{task_type}_{task_id}")


def _warm_start(stage, net, start_from, beat_len: int) -> list[str]:
    """Copy the ``start_from`` model's (a run folder, ``.keras`` or preset name) weights into the freshly built
    pre-training model ``net`` by layer name, the beat encoder's first convolution extended with zero kernels when
    the data have more beat channels than that model read (``modeling.transfer``); the layers ``stage.start_keeps``
    (what the stage took from ``--init-from`` and the data) stay. Why: continuing a pre-trained model's
    self-supervision on other beats (e.g. more channels) instead of starting it from random weights. Returns the
    names copied; ``ConfigError`` when none is."""
    from ecgsl_keras.modeling.files import load_keras_model
    from ecgsl_keras.modeling.transfer import beat_channels_of, transfer_weights

    source = load_keras_model(runs.model_path(start_from))
    src_c, dst_c = beat_channels_of(source, beat_len), beat_channels_of(net, beat_len)
    extend = src_c is not None and dst_c is not None and dst_c > src_c
    copied = transfer_weights(source, net, extend_channels=extend, skip=stage.start_keeps)
    if not copied:
        raise ConfigError(start_from, "bad_config", f"--start-from: no layer of this model matches the {stage.name} "
                          "model's (by name and shape)")
    log.info("--start-from %s: %d layer(s) copied%s: %s", start_from, len(copied),
             f" (beat channels {src_c} -> {dst_c}: a copied first convolution gets zero kernels for the new ones)" if extend
             else "", ", ".join(copied))
    return copied


def train(stage, data, run_dir, options: TrainOptions | None = None, *, callbacks=(), **overrides) -> dict:
    """Train ``stage`` (a name from ``stages.STAGES`` or a ``Stage``) on the TFRecord folder ``data``
    and write the run folder ``run_dir``.

    ``options``: a ``TrainOptions``; keyword arguments (its field names) override it. Among them:
    ``task``, a task name (checked against the data) or None for the data's own; ``init_from``, a
    run folder or ``.keras`` file (required for ``masked`` and ``finetune``); ``config``, an
    ``ExperimentConfig`` or a JSON path; ``strategy``, a name from ``ecgsl_keras.training.strategy``
    or a ``tf.distribute.Strategy``; ``batch_size`` is per replica. ``callbacks``: extra Keras
    callbacks. Returns the JSON-able summary also printed by the CLI.

    ``data`` and ``run_dir`` may be ``tf.io.gfile`` URIs (``gs://``, ``ram://``): the data are read
    through gfile; a remote run folder is trained in a local mirror copied there after every epoch
    (``runs.with_remote_run_dir``, given the same ``options``).
    """

    options = dataclasses.replace(options if options is not None else TrainOptions(), **overrides)
    if fs.is_remote(run_dir):
        return runs.with_remote_run_dir(train, stage, data, run_dir, list(callbacks or ()), options)
    stage = get_stage(stage)
    o = options
    if o.model not in MODELS:
        raise ConfigError("<model>", "bad_config", f"model must be one of {MODELS}, got {o.model!r}")
    stage.check(init_from=o.init_from, model_kind=o.model)
    if o.start_from is not None and (stage.classifier or o.model != "ecgsl"):
        raise ConfigError("<start-from>", "bad_config", f"--start-from warm-starts the ECG-SL pre-training stages; "
                          f"stage {stage.name!r} takes its start with --init-from")
    init_from, model = o.init_from, o.model

    # The strategy first: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    dist = o.strategy if not isinstance(o.strategy, str) else strategy_lib.get_strategy(o.strategy)
    import keras

    start = time.perf_counter()
    data = data if fs.is_remote(data) else Path(data).resolve()   # a URI stays a string (read through gfile)
    run_dir = Path(run_dir).resolve()
    manifest = load_manifest(data)
    init_info = runs.load_run_info(init_from) if init_from is not None else None
    config = options.apply(resolve_config(o.config, manifest, data, init_info=init_info))   # the options, once
    config = stage.adapt_config(config, manifest)   # e.g. hybrid: model.n_record_features from the data
    signal_adapted = None
    if init_info is not None:   # the init model's beats must be the data's (ecgsl_keras.config.signal_mismatch)
        init_signal = (init_info.get("experiment_config") or {}).get("signal")
        data_signal = (manifest.get("metadata") or {}).get("signal_config")
        if o.adapt_signal and init_signal and data_signal:
            # on purpose: the model learns the data's beats (e.g. cut where an edge graph finds the peaks)
            signal_adapted = signal_mismatch(data_signal, init_signal)
            log.info("--adapt-signal: the init model's beats were cut otherwise (data != model: %s)",
                     "; ".join(signal_adapted) or "none")
        elif init_signal and data_signal and _reference_added(init_signal, data_signal):
            # beats with a reference channel (SignalConfig.beat_reference) for a one-channel init model: the
            # classifier's beat encoder takes the init model's kernels with zeros for the new channel
            # (modeling.transfer, extend_channels), so it starts at the init model's outputs
            log.info("the init model reads one-channel beats, the data carry beat_reference %r: its first "
                     "convolution is extended with zero kernels for the new channel", data_signal["beat_reference"])
        else:
            runs.check_model_signal(init_from, init_signal, data_signal, fs.join(data, "manifest.json"))
    task_obj = resolve_task(manifest, data, o.task)
    stage.check_task(task_obj, fs.join(data, "manifest.json"))
    seed = config.train.seed

    chief = strategy_lib.is_chief(dist)
    if chief:
        paths, resuming = runs.prepare_run_dir(run_dir, stage=stage.name, overwrite=o.overwrite)
    else:
        paths = _worker_paths(run_dir, dist)
        resuming = paths.backup.is_dir()
    paths.makedirs()

    replicas = int(dist.num_replicas_in_sync)
    global_batch = int(config.train.batch_size) * replicas
    steps = stage.steps_per_epoch(manifest, global_batch, config.train.label_fraction)
    has_validation = bool(_split_counts(manifest, VALIDATION_SPLIT).get("examples"))
    monitor, mode = stage.monitor(task_obj, has_validation)

    info = {
        "stage": stage.name, "task": task_obj.to_dict() if task_obj is not None else None,
        "experiment_config": config.to_dict(), "data": str(data), "seed": seed, "model_kind": model,
        "init_from": str(Path(init_from).resolve()) if init_from is not None else None,
        "start_from": str(o.start_from) if o.start_from is not None else None,
        "signal_adapted": signal_adapted,   # the signal fields the init model was trained with otherwise
        "strategy": strategy_lib.describe(dist), "global_batch_size": global_batch, "steps_per_epoch": steps,
        "monitor": monitor, "monitor_mode": mode, "versions": runs.versions(), "status": runs.STATUS_RUNNING,
        "lead": (manifest.get("metadata") or {}).get("lead"),   # the lead it learns (serving.inference.find_lead)
        "command": o.command, "data_splits": {k: {"examples": v.get("examples"), "beats": v.get("beats")}
                                            for k, v in (manifest.get("splits") or {}).items()},
    }
    if resuming and paths.config.is_file():
        previous = runs.read_json(paths.config)
        info["started"] = previous.get("started")
        info["resumed"] = list(previous.get("resumed") or []) + [time.strftime("%Y-%m-%dT%H:%M:%S")]
    else:
        info["started"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    runs.write_json(paths.config, info)
    log.info("%s %s: %s on %s (%d replica(s), global batch %d, %d steps/epoch)%s",
             "resuming" if resuming else "starting", stage.name, model, data, replicas, global_batch, steps,
             "" if chief else " [worker]")

    keras.utils.set_random_seed(seed)
    init_model = stage.load_init_model(init_from)
    weights = (class_weights(manifest, task_obj, cap=config.train.class_weight_cap)
               if (stage.classifier and config.train.class_weights) else None)
    raw_window = model == "resnet1d"
    # The ResNet baseline reads the continuous signal when the data store it (prepare --raw-signal).
    raw_input = None if not raw_window else "signal" if (manifest.get("metadata") or {}).get("raw_signal") else "beats"
    if raw_input is not None:
        info["raw_input"] = raw_input
        runs.write_json(paths.config, info)
        log.info("resnet1d input: %s", "the continuous signal, windows of %d samples" % config.model.raw_samples
                 if raw_input == "signal" else "the beat sequence laid end to end (no --raw-signal in the data)")
    target_stats = stage.transfer_statistics(data, config, init_model)
    with dist.scope():
        net = stage.build_model(config, task_obj, model_kind=model, init_model=init_model, seed=seed,
                                target_stats=target_stats, raw_input=raw_input)
        optimizer = stage.make_optimizer(config.train, steps * config.train.epochs, model=net, steps_per_epoch=steps)
        stage.compile(net, task_obj, config.train, optimizer=optimizer)
        # Slots before fit: without a strategy, Keras creates them inside the first trace of the train step and
        # TensorFlow traces it again (about 70% of a short run is that tracing); built here, it is traced once.
        net.optimizer.build(net.trainable_variables)
        if o.start_from is not None and not paths.backup.is_dir():   # a backup restores its own weights over these
            info["start_copied"] = _warm_start(stage, net, o.start_from, config.model.beat_len)
            runs.write_json(paths.config, info)
    if strategy_lib.needs_build_patch(dist):
        strategy_lib.patch_symbolic_build(net)
    if strategy_lib.is_multiworker(dist):
        strategy_lib.patch_multiworker_logs(net)
    if init_model is not None:
        del init_model
    train_data = strategy_lib.distribute(
        dist, stage.input_fn(data, manifest, config, task_obj, global_batch, raw_window=raw_window,
                             weights=weights, raw_input=raw_input, initial_epoch=_backup_epoch(paths.backup)))

    cb = []
    if has_validation:
        cb.append(ValidationMetrics(stage, data, config, task_obj, int(config.train.batch_size)))
    else:
        log.warning("%s has no %r split: checkpoints and early stopping follow the training loss", data,
                    VALIDATION_SPLIT)
    best_checkpoint = AtomicModelCheckpoint(str(paths.model), monitor=monitor, mode=mode, save_best_only=True)
    early_stopping = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode,
                                                   patience=config.train.early_stopping_patience)
    cb += [best_checkpoint,
           AtomicModelCheckpoint(paths.checkpoint(), save_weights_only=True),
           early_stopping]
    if config.train.lr_schedule == "plateau":
        cb.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5,
                                                    patience=max(1, config.train.early_stopping_patience // 3),
                                                    min_lr=config.train.learning_rate * config.train.lr_min_fraction))
    cb.append(keras.callbacks.CSVLogger(str(paths.history), append=True))
    if tensorboard_available():
        cb.append(keras.callbacks.TensorBoard(str(paths.tensorboard)))
    else:
        log.warning("TensorBoard is not installed (pip install tensorboard): no logs in %s", paths.tensorboard)
    cb += [CallbackState(paths.backup / CALLBACK_STATE_NAME, early_stopping, best_checkpoint, paths.checkpoints,
                         config.train.keep_checkpoints)]
    save_freq = config.train.backup_save_freq
    # double_checkpoint: a kill while the backup is being written leaves a torn .h5; Keras then
    # falls back on the previous backup instead of failing the resume.
    cb.append(keras.callbacks.BackupAndRestore(str(paths.backup), double_checkpoint=True,
                                               save_freq="epoch" if save_freq == "epoch" else int(save_freq)))
    cb += list(callbacks or ())

    verbose = 2 if o.verbose is None else o.verbose
    with contextlib.redirect_stdout(sys.stderr):   # Keras progress lines: stderr; stdout keeps the JSON
        history = net.fit(train_data, epochs=config.train.epochs, steps_per_epoch=steps, callbacks=cb,
                          verbose=verbose, shuffle=False)
    epochs_run = len(history.epoch)

    final = runs.RunPaths(run_dir)   # the chief's folder, also in the other workers' summaries
    summary = {"stage": stage.name, "run_dir": str(final.root), "model": str(final.model),
               "last_model": str(final.last_model), "monitor": monitor, "epochs_run_now": epochs_run,
               "resumed": resuming, "chief": chief}
    save_model_atomic(net, paths.last_model)
    if chief:
        summary.update(_finish(paths, stage, data, config, task_obj, monitor, mode, info, start))
    else:
        shutil.rmtree(paths.root, ignore_errors=True)
    # Whoever finishes last removes the (then empty) scratch folder of the other workers.
    with contextlib.suppress(OSError):
        (final.root / runs.WORKERS_DIR).rmdir()
    return summary


def _backup_epoch(backup_dir: Path) -> int:
    """The epoch ``BackupAndRestore`` resumes at (0 without a backup): the input stream starts there."""
    try:
        return max(0, int(runs.read_json(backup_dir / "training_metadata.json").get("epoch", 0)))
    except (ConfigError, AttributeError, TypeError, ValueError):
        return 0


def _finish(paths: runs.RunPaths, stage, data, config, task, monitor, mode, info, start) -> dict:
    """After fit, on the chief: history, metrics.json (and thresholds.json), final config.json."""
    import csv

    with open(paths.history, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    # A resume from the backup before last (the last one torn by a kill) runs an epoch again:
    # keep its newest row only.
    by_epoch = {int(r["epoch"]): r for r in rows}
    if len(by_epoch) < len(rows):
        rows = [by_epoch[e] for e in sorted(by_epoch)]
        with fileio.atomic_path(paths.history) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=reader.fieldnames)
            writer.writeheader()
            writer.writerows(rows)
    scored = [(float(r[monitor]), int(r["epoch"]) + 1) for r in rows
              if r.get(monitor) not in (None, "") and math.isfinite(float(r[monitor]))]
    if scored:
        value, epoch = (min if mode == "min" else max)(scored, key=lambda pair: pair[0])
    else:
        value, epoch = None, None
    best = {"monitor": monitor, "value": value, "epoch": epoch}
    if not paths.model.is_file():
        # The monitored metric was never defined (e.g. AUROC on a validation split with one class):
        # ModelCheckpoint saved nothing, so the last model stands for the best.
        log.warning("%s was never available: %s is the last epoch's model", monitor, paths.model)
        fileio.copy_atomic(paths.last_model, paths.model)
    has_validation = monitor.startswith("val_")
    metrics = {"split": VALIDATION_SPLIT if has_validation else None, "best": best, "epochs": len(rows)}
    if has_validation and stage.classifier:
        from ecgsl_keras.modeling.files import load_keras_model

        best_model = load_keras_model(paths.model)
        thresholds = None
        if task.kind == tasks_lib.MULTILABEL:
            windows = evaluate.predict_windows(best_model, evaluate.eval_dataset(
                data, VALIDATION_SPLIT, config, task, raw_input=evaluate.raw_input_of(best_model, config, data)))
            thresholds = evaluate.choose_thresholds_from_windows(task, windows)
            runs.write_json(paths.thresholds, {"thresholds": thresholds, "label_names": list(task.label_names),
                                               "chosen_on": f"{data} split {VALIDATION_SPLIT}",
                                               "rule": "per-class threshold maximising F1"})
        found = evaluate.evaluate_model(best_model, data, VALIDATION_SPLIT, config, task, thresholds=thresholds)
        metrics.update(found)
    elif has_validation:
        metrics["val_loss"] = best["value"]
    runs.write_json(paths.metrics, metrics)
    info = dict(info, status=runs.STATUS_FINISHED, finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                epochs_completed=len(rows), best=best, seconds=round(time.perf_counter() - start, 1))
    runs.write_json(paths.config, info)
    return {"epochs_completed": len(rows), "best": best, "metrics": {k: v for k, v in metrics.items()
                                                                      if not isinstance(v, (dict, list))},
            "seconds": info["seconds"]}

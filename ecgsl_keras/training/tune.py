"""Hyper-parameter search with keras-tuner; every trial is one ``ecgsl_keras.training.trainer`` run.

    python -m ecgsl_keras.tune --data prepared/cinc2017 --stage supervised --max-trials 20 \\
        --tuner bayesian --epochs 12 --out runs/tune_supervised
    python -m ecgsl_keras.tune --data prepared/cinc2017 --stage finetune --init-from runs/masked \\
        --max-trials 10 --tuner random --out runs/tune_finetune
    python -m ecgsl_keras.train --stage supervised --data prepared/cinc2017 --run-dir runs/best \\
        --config runs/tune_supervised/best_config.json

A keras-tuner oracle (``RandomSearchOracle``, ``BayesianOptimizationOracle`` or ``HyperbandOracle``)
proposes values; ``ECGSLTuner.run_trial`` turns them into an ``ExperimentConfig`` (``trial_config``)
and calls ``train.train`` on it, so a trial is exactly a training run (same data pipeline,
augmentation, class weights, validation windows averaged per record, best-epoch checkpoint) whose
run folder is ``OUT/trials/<trial id>``. The objective is the train run's monitor at its best epoch,
on the validation split of ``--data``: ``val_macro_f1`` (multiclass, binary), ``val_macro_auroc``
(multi-label), ``val_loss`` (``--stage masked``).

Search space (``search_space``):

* ``supervised`` and ``masked``: ``d_model`` {32, 64, 128}, ``num_layers`` 1-4, ``num_heads`` {2, 4, 8},
  ``dropout`` 0-0.3, ``learning_rate`` 1e-4-3e-3 (log); ``masked`` also ``mask_ratio`` 0.15-0.5.
* ``finetune``: the architecture is the ``--init-from`` run's (its weights are loaded by layer
  name), so ``dropout``, ``learning_rate``, ``encoder_lr_multiplier`` {0.1, 0.3, 1}.
* classifiers (``supervised``, ``finetune``): ``augment_strength`` 0-2, a factor on the default
  augmentation (``augment_noise``, ``augment_wander``, ``augment_beat_dropout`` times it,
  ``augment_scale`` to its power; 0 turns augmentation off).

Everything else comes from ``--config`` (or the ``--init-from`` run's model and the defaults), with
``--epochs`` and ``--batch-size`` per trial. Hyperband chooses each trial's epochs itself (up to
``--epochs``) and is bounded by its brackets, not by ``--max-trials``.

Resuming: keras-tuner keeps the search state in ``OUT/search/``; run the same command again after a
kill and it reloads it: finished trials are kept, the trial that was running is run again (its
``train`` run folder resumes from its last epoch backup; if the kill corrupted that backup, the
trial starts over), and the search goes on up to
``--max-trials``. ``OUT/best_config.json`` is the best trial's ``ExperimentConfig``, which ``train
--config`` accepts as it is; ``OUT/tune_summary.json`` lists every trial. The last line of stdout is
one JSON object (the summary).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
from pathlib import Path

from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.store import runs
from ecgsl_keras.training.inputs import VALIDATION_SPLIT, _split_counts
from ecgsl_keras.training.stages import TUNABLE, get_stage
from tfrecords_tools import load_manifest

log = logging.getLogger("ecgsl_keras.training.tune")

STAGES = TUNABLE   # the stages a search can tune (stages.Stage.tunable)
TUNERS = ("random", "bayesian", "hyperband")
INSTALL_HINT = 'pip install -e ".[tune]"'
BEST_CONFIG_NAME = "best_config.json"
SUMMARY_NAME = "tune_summary.json"
SEARCH_DIR = "search"
TRIALS_DIR = "trials"


def keras_tuner():
    try:
        import keras_tuner as kt
    except ImportError as exc:
        raise ECGSLError(f"the search needs keras-tuner (the 'tune' extra): run {INSTALL_HINT} ({exc})") from None
    return kt


def search_space(hp, stage: str, base: ExperimentConfig) -> ExperimentConfig:
    """``base`` with the values of keras-tuner's ``hp`` for ``stage`` (module docstring)."""
    stage = get_stage(stage)
    model, train = {}, {}
    if stage.tune_architecture:
        model["d_model"] = hp.Choice("d_model", [32, 64, 128], default=64)
        model["num_layers"] = hp.Int("num_layers", 1, 4, default=2)
        model["num_heads"] = hp.Choice("num_heads", [2, 4, 8], default=4)
        model["ff_dim"] = 2 * model["d_model"]
    model["dropout"] = hp.Float("dropout", 0.0, 0.3, step=0.05, default=0.1)
    if stage.tune_mask_ratio:
        model["mask_ratio"] = hp.Float("mask_ratio", 0.15, 0.5, step=0.05, default=0.3)
    train["learning_rate"] = hp.Float("learning_rate", 1e-4, 3e-3, sampling="log", default=1e-3)
    if stage.tune_encoder_lr:
        train["encoder_lr_multiplier"] = hp.Choice("encoder_lr_multiplier", [0.1, 0.3, 1.0], default=1.0)
    if stage.classifier:
        strength = hp.Float("augment_strength", 0.0, 2.0, step=0.25, default=1.0)
        defaults = ExperimentConfig().train
        train.update(augment=strength > 0, augment_noise=defaults.augment_noise * strength,
                     augment_wander=defaults.augment_wander * strength,
                     augment_beat_dropout=min(defaults.augment_beat_dropout * strength, 0.5),
                     augment_scale=max(1.0, defaults.augment_scale ** strength))
    if "tuner/epochs" in hp.values:   # Hyperband: the bracket's epoch budget
        train["epochs"] = int(hp.values["tuner/epochs"])
    config = ExperimentConfig(signal=base.signal, model=dataclasses.replace(base.model, **model),
                              train=dataclasses.replace(base.train, **train))
    config.model.validate()
    config.train.validate()
    return config


def _objective(stage, data, task_name=None):
    """(monitor, mode) of the train runs: the task's monitor on validation, val_loss when pre-training."""

    from ecgsl_keras.training import trainer as train_lib

    manifest = load_manifest(str(data))
    if not _split_counts(manifest, VALIDATION_SPLIT).get("examples"):
        raise ConfigError(Path(data) / "manifest.json", "bad_config",
                          f"the search scores trials on the {VALIDATION_SPLIT!r} split, and the data have none")
    task = train_lib.resolve_task(manifest, data, task_name)
    stage = get_stage(stage)
    if stage.classifier and task is None:
        raise ConfigError(Path(data) / "manifest.json", "bad_config", f"stage {stage.name!r} needs labelled data")
    return stage.monitor(task, True), manifest


def make_tuner(out, stage, data, base: ExperimentConfig, *, tuner="random", max_trials=10, epochs=None,
               init_from=None, task=None, seed=42, batch_size=None, overwrite=False):
    """The ``ECGSLTuner`` of a search in ``out`` (reloaded from ``out/search`` when it exists)."""
    kt = keras_tuner()
    from ecgsl_keras.training import trainer as train_lib

    (monitor, mode), _ = _objective(stage, data, task)
    objective = kt.Objective(monitor, direction=mode)
    if tuner == "random":
        oracle = kt.oracles.RandomSearchOracle(objective=objective, max_trials=max_trials, seed=seed)
    elif tuner == "bayesian":
        oracle = kt.oracles.BayesianOptimizationOracle(objective=objective, max_trials=max_trials, seed=seed)
    elif tuner == "hyperband":
        # Hyperband plans its brackets from a declared space (random and Bayesian discover it in their
        # first trial, which therefore runs the defaults).
        space = kt.HyperParameters()
        search_space(space, stage, base)
        oracle = kt.oracles.HyperbandOracle(objective=objective, max_epochs=int(epochs or base.train.epochs),
                                            factor=3, seed=seed, hyperparameters=space)
    else:
        raise ConfigError("<tuner>", "bad_config", f"tuner must be one of {TUNERS}, got {tuner!r}")

    class ECGSLTuner(kt.engine.base_tuner.BaseTuner):
        """Each trial: ``search_space`` -> ``train.train`` in ``OUT/trials/<id>`` -> its best monitor value."""

        def run_trial(self, trial, *args, **kwargs):
            config = search_space(trial.hyperparameters, stage, base)
            run_dir = Path(out) / TRIALS_DIR / trial.trial_id
            log.info("trial %s: %s", trial.trial_id, json.dumps(trial.hyperparameters.values))
            command = ["python", "-m", "ecgsl_keras.tune", "trial", trial.trial_id]
            resuming = run_dir.is_dir()
            try:
                try:
                    summary = train_lib.train(stage, data, run_dir, task=task, init_from=init_from, config=config,
                                              batch_size=batch_size, verbose=0, command=command)
                except (OSError, ValueError) as error:
                    if not resuming or isinstance(error, ECGSLError):
                        raise
                    # A kill during a backup write leaves a file the resumed run cannot read: start the trial over.
                    log.warning("trial %s: cannot resume its run in %s (%s); training it again from scratch",
                                trial.trial_id, run_dir, error)
                    summary = train_lib.train(stage, data, run_dir, task=task, init_from=init_from, config=config,
                                              batch_size=batch_size, verbose=0, command=command, overwrite=True)
            except ECGSLError as error:   # bad data or config: every trial would fail alike
                raise kt.errors.FatalError(str(error)) from None
            value = (summary.get("best") or {}).get("value")
            if value is None or not math.isfinite(float(value)):
                raise kt.errors.FailedTrialError(f"trial {trial.trial_id}: {monitor} was never defined")
            return {monitor: float(value)}

        def save_model(self, trial_id, model, step=0):
            pass   # train.train saved the trial's model in its run folder

        def load_model(self, trial):
            return runs.model_path(Path(out) / TRIALS_DIR / trial.trial_id)

    return ECGSLTuner(oracle, directory=str(out), project_name=SEARCH_DIR, overwrite=overwrite)


def base_config(stage, data, *, config=None, init_from=None, epochs=None, batch_size=None, seed=None):
    """The config every trial starts from: ``--config`` or the ``--init-from`` run's model and the
    defaults, the signal config of the data (``train.resolve_config``), ``--epochs`` per trial."""

    from ecgsl_keras.training import trainer as train_lib

    stage = get_stage(stage)
    if stage.init == "required" and init_from is None:
        raise ConfigError("<init-from>", "bad_config",
                          f"{stage.name} trials start from {stage.init_source}: pass --init-from")
    if stage.init == "forbidden" and init_from is not None:
        raise ConfigError("<init-from>", "bad_config",
                          f"{stage.name} trials start from random weights; drop --init-from")
    init_info = runs.load_run_info(init_from) if init_from is not None else None
    return train_lib.resolve_config(config, load_manifest(str(data)), data, init_info=init_info, epochs=epochs,
                                    batch_size=batch_size, seed=seed)


def search(data, out, *, stage="supervised", tuner="random", max_trials=10, epochs=None, init_from=None,
           config=None, task=None, batch_size=None, seed=42, overwrite=False) -> dict:
    """Run (or resume) the search; write ``best_config.json`` and ``tune_summary.json``; return the summary."""
    if stage not in STAGES:
        raise ConfigError("<stage>", "bad_config", f"stage must be one of {STAGES}, got {stage!r}")
    keras_tuner()
    out = Path(out).resolve()
    data = Path(data).resolve()
    base = base_config(stage, data, config=config, init_from=init_from, epochs=epochs, batch_size=batch_size,
                       seed=seed)
    tuner_obj = make_tuner(out, stage, data, base, tuner=tuner, max_trials=max_trials, epochs=epochs,
                           init_from=init_from, task=task, seed=seed, batch_size=batch_size, overwrite=overwrite)
    runs.write_json(out / "search_config.json", {"stage": stage, "tuner": tuner, "max_trials": max_trials,
                                                 "data": str(data), "init_from": init_from,
                                                 "base_config": base.to_dict()})
    import contextlib

    kt = keras_tuner()
    try:
        with contextlib.redirect_stdout(sys.stderr):   # keras-tuner prints progress; stdout keeps the JSON
            tuner_obj.search()
    except kt.errors.FatalError as error:
        raise ECGSLError(f"{out}: {error}") from None
    except RuntimeError as error:   # keras-tuner: too many consecutive failed trials
        raise ECGSLError(f"{out}: the search stopped: {error}") from None
    oracle = tuner_obj.oracle
    monitor = oracle.objective.name
    trials = []
    for trial_id, trial in sorted(oracle.trials.items()):
        score = trial.score
        trials.append({"trial": trial_id, "status": trial.status, monitor: score,
                       "hyperparameters": {k: v for k, v in trial.hyperparameters.values.items()},
                       "run_dir": str(out / TRIALS_DIR / trial_id)})
    best_trials = oracle.get_best_trials(1)
    if not best_trials:
        raise ECGSLError(f"{out}: no trial finished (see {out / SEARCH_DIR} for their messages)")
    best = best_trials[0]
    best_config = search_space(best.hyperparameters, stage, base)
    best_config.save(out / BEST_CONFIG_NAME)
    summary = {"stage": stage, "tuner": tuner, "objective": monitor, "direction": oracle.objective.direction,
               "split": "validation", "data": str(data), "trials_finished": sum(t["status"] == "COMPLETED"
                                                                               for t in trials),
               "best_trial": best.trial_id, "best_score": best.score,
               "best_hyperparameters": dict(best.hyperparameters.values),
               "best_config": str(out / BEST_CONFIG_NAME), "best_run_dir": str(out / TRIALS_DIR / best.trial_id),
               "trials": trials}
    runs.write_json(out / SUMMARY_NAME, summary)
    return summary

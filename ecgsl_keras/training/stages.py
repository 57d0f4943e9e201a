"""Training stages as objects, registered by name (in the manner of TF Model Garden's ``base_task.Task``).

Each stage owns what differs between the stages of ECG-SL:

* ``check``: which ``--init-from`` / ``--model`` it accepts;
* ``load_init_model`` and ``transfer_statistics``: the weight hand-over from the previous stage
  (the models take the previous model by layer name, ``models.transfer_weights``; the masked stage
  also standardises its latent target with statistics of the stage-1 embeddings);
* ``build_model``: its Keras model from the ``ExperimentConfig``, the task and the previous model;
* ``steps_per_epoch``, ``input_fn`` / ``build_inputs(..., input_context)``: its ``tf.data`` input
  for ``tf.distribute`` (``tf.distribute.InputContext``);
* ``loss``, ``metrics``, ``compile`` and ``make_optimizer``;
* ``monitor``: the quantity checkpoints and early stopping follow, and its mode;
* ``validation_dataset`` / ``validation_logs``: the per-epoch validation metrics
  (``callbacks.ValidationMetrics``); ``classifier``: whether the task metrics and thresholds apply.

    from ecgsl_keras.training.stages import get_stage, STAGES
    stage = get_stage("masked")
    model = stage.build_model(config, task=None, init_model=autoencoder)

``STAGES`` is the one list of stage names; ``get_stage`` raises ``ConfigError`` naming them.
"""
from __future__ import annotations

import math

from ecgsl_keras import tasks as tasks_lib
from ecgsl_keras.config import ExperimentConfig, TrainConfig
from ecgsl_keras.data.augment import augment_dataset
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.evaluation import evaluate
from ecgsl_keras.store import runs
from ecgsl_keras.training.inputs import (TRAIN_SPLIT, VALIDATION_SPLIT, _classifier_element, _float_mask, _n_shards,
                                         _run_of, _split_counts, masked_target_statistics)
from tfrecords_tools import make_dataset

_REGISTRY: dict = {}


def register(cls):
    """Class decorator: registers an instance of the ``Stage`` subclass ``cls`` under ``cls.name``."""
    _REGISTRY[cls.name] = cls()
    return cls


def get_stage(name) -> "Stage":
    """The registered stage ``name`` (a ``Stage`` is returned as it is); ``ConfigError`` naming the
    known stages otherwise."""
    if isinstance(name, Stage):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError("<stage>", "bad_config", f"stage must be one of {tuple(_REGISTRY)}, got {name!r}") from None


class Stage:
    """One training stage. Subclasses set the class attributes and override what differs."""

    name: str = ""
    classifier: bool = False        # labelled data, task loss/metrics, class weights, validation task metrics
    init: str = "forbidden"         # "required" | "forbidden": --init-from
    init_source: str = ""           # what --init-from names (messages)
    # --start-from (a warm start of a pre-training stage) leaves these layers as the stage set them from
    # --init-from and the data (e.g. masked: the stage-1 encoder, its frozen copy and the target statistics)
    start_keeps: tuple = ()
    model_kinds: tuple = ("ecgsl",)  # the --model values it trains
    count_key: str = "examples"     # the manifest count one training item is (beats or examples)
    tunable: bool = False           # ecgsl_keras.training.tune searches it
    tune_architecture: bool = False  # the search varies d_model / num_layers / num_heads
    tune_mask_ratio: bool = False
    tune_encoder_lr: bool = False

    def __repr__(self):
        return f"<Stage {self.name}>"

    @property
    def pretraining(self) -> bool:
        return not self.classifier

    # --- arguments ---------------------------------------------------------------------------

    def check(self, *, init_from=None, model_kind: str = "ecgsl") -> None:
        """``ConfigError`` when ``init_from`` / ``model_kind`` do not fit the stage."""
        if model_kind not in self.model_kinds:
            raise ConfigError("<model>", "bad_config",
                              f"the {model_kind} baseline is trained with --stage "
                              f"{' or '.join(s.name for s in _REGISTRY.values() if model_kind in s.model_kinds)} only")
        if self.init == "required" and init_from is None:
            raise ConfigError("<init-from>", "bad_config",
                              f"stage {self.name!r} starts from a previous run: pass --init-from "
                              "(an autoencoder run for masked; a masked or autoencoder run for finetune)")
        if self.init == "forbidden" and init_from is not None:
            raise ConfigError("<init-from>", "bad_config",
                              f"stage {self.name!r} starts from random weights; --init-from is for "
                              f"{' and '.join(s.name for s in _REGISTRY.values() if s.init == 'required')}")

    def check_task(self, task, manifest_path) -> None:
        """Classifier stages need labelled data."""
        if self.classifier and task is None:
            pre = " or ".join(s.name for s in _REGISTRY.values() if s.pretraining)
            raise ConfigError(manifest_path, "bad_config",
                              f"stage {self.name!r} needs labelled data, but this folder has no labels (no label_info "
                              "in its manifest, e.g. an unlabelled pre-training corpus from prepare --unlabelled): "
                              f"pre-train on it with --stage {pre}, and run {self.name} on a "
                              "labelled folder (prepare --dataset NAME without --unlabelled)")

    # --- weight transfer ---------------------------------------------------------------------

    def load_init_model(self, init_from):
        """The previous stage's model (``--init-from``: a run folder or ``.keras``), or None."""
        if init_from is None:
            return None
        from ecgsl_keras.modeling.files import load_keras_model

        return load_keras_model(runs.model_path(init_from))

    def transfer_statistics(self, data, config: ExperimentConfig, init_model):
        """What the model needs from the previous stage besides its weights (None by default)."""
        return None

    def adapt_config(self, config: ExperimentConfig, manifest: dict) -> ExperimentConfig:
        """The run's config given the data (``config`` as it is by default; the hybrid stage sets
        ``model.n_record_features`` from the manifest), before it is saved in ``config.json``."""
        return config

    # --- model -------------------------------------------------------------------------------

    def build_model(self, config: ExperimentConfig, task, *, model_kind: str = "ecgsl", init_model=None, seed=None,
                    target_stats=None, raw_input=None):
        """The Keras model of the stage (inside the caller's strategy scope); the previous stage's
        weights are taken from ``init_model`` by layer name."""
        raise NotImplementedError

    # --- inputs ------------------------------------------------------------------------------

    def steps_per_epoch(self, manifest: dict, global_batch: int, label_fraction: float = 1.0) -> int:
        """One pass over the training split (beats for the autoencoder, sequences otherwise; the
        expected share ``label_fraction`` of the sequences for classifiers)."""
        n_items = _split_counts(manifest, TRAIN_SPLIT).get(self.count_key, 0)
        if not n_items:
            raise ECGSLError(f"the data have no {TRAIN_SPLIT!r} split (splits: {sorted(manifest.get('splits', {}))})")
        if self.classifier:
            n_items = int(math.ceil(n_items * float(label_fraction)))
        return max(1, n_items // global_batch)

    def _read(self, data, config, task, raw_input, common: dict):
        """The batched training dataset of one pipeline, before sharding (stage specific)."""
        raise NotImplementedError

    def _map(self, ds, config, task, input_context, *, raw_window, weight_table, seed=None):
        """Per-batch transformation after sharding (stage specific)."""
        return ds

    def input_fn(self, data, manifest: dict, config: ExperimentConfig, task, global_batch: int, *,
                 raw_window: bool = False, weights=None, raw_input=None, initial_epoch: int = 0):
        """``fn(input_context)`` -> the repeated training dataset of one input pipeline.

        Shards are split between input pipelines (workers) when there are enough of them, else every
        pipeline reads all and keeps every n-th batch. Class weights become per-example (per-beat)
        sample weights, so they work the same under every strategy.

        With a seed the stream of batches is the same in every process; a run resumed at
        ``initial_epoch`` (the backup's) skips the batches of the epochs before it, so it reads exactly
        what an uninterrupted run reads from that epoch on (a fresh stream would restart at epoch 1's
        order)."""
        import tensorflow as tf

        n_shards = _n_shards(manifest, TRAIN_SPLIT)
        n_items = _split_counts(manifest, TRAIN_SPLIT).get(self.count_key, 0)
        weight_table = None if weights is None else tf.constant(weights, tf.float32)
        steps = self.steps_per_epoch(manifest, global_batch, config.train.label_fraction)

        def fn(input_context):
            per_replica = input_context.get_per_replica_batch_size(global_batch)
            pipelines = input_context.num_input_pipelines
            context = input_context if n_shards >= pipelines else None
            common = dict(split=TRAIN_SPLIT, training=True, batch_size=per_replica,
                          shuffle_buffer=config.train.shuffle_buffer, seed=config.train.seed, input_context=context,
                          drop_remainder=n_items >= global_batch,
                          length_aware=getattr(config.train, "length_aware", True),
                          sort_window=getattr(config.train, "sort_window_batches", 4))
            if raw_window and raw_input != "signal":
                # The ResNet baseline on beats laid end to end has a fixed input length: fixed-shape batches.
                common["length_aware"] = False

            def stream(seed):
                ds = self._read(data, config, task, raw_input, dict(common, seed=seed))
                if context is None and pipelines > 1:
                    ds = ds.shard(pipelines, input_context.input_pipeline_id)
                ds = self._map(ds, config, task, input_context, raw_window=raw_window, weight_table=weight_table,
                               seed=config.train.seed if seed is None else seed)
                return ds.repeat()

            ds = stream(config.train.seed)
            if initial_epoch and config.train.seed is not None:
                # A seeded stream is the same in every process: a resumed run skips the batches the
                # killed one trained on (read, not trained: the cost of exactness) instead of
                # restarting at epoch 1's order. Each step takes one batch per replica.
                ds = ds.skip(int(initial_epoch) * steps * input_context.num_replicas_in_sync // pipelines)
            return ds.prefetch(tf.data.AUTOTUNE)

        return fn

    def build_inputs(self, data, manifest: dict, config: ExperimentConfig, task, global_batch: int, input_context,
                     **kwargs):
        """The training dataset of the pipeline ``input_context`` (a ``tf.distribute.InputContext``)."""
        return self.input_fn(data, manifest, config, task, global_batch, **kwargs)(input_context)

    # --- loss, metrics, optimizer ------------------------------------------------------------

    def loss(self, task=None, train_config: TrainConfig | None = None):
        raise NotImplementedError

    def metrics(self, task=None) -> list | None:
        return None

    def make_optimizer(self, train_config: TrainConfig, total_steps=None, *, model=None, steps_per_epoch=None):
        from ecgsl_keras.modeling.optimizers import make_optimizer

        return make_optimizer(train_config, total_steps)

    def compile(self, model, task=None, train_config: TrainConfig | None = None, optimizer=None, metrics=None):
        """Compile ``model`` with the stage's loss and metrics and ``optimizer`` (default: AdamW from
        ``train_config``). Returns ``model``."""
        from ecgsl_keras.modeling.optimizers import make_optimizer

        train_config = train_config if train_config is not None else TrainConfig()
        optimizer = optimizer if optimizer is not None else make_optimizer(train_config)
        model.compile(optimizer=optimizer, loss=self.loss(task, train_config),
                      metrics=self.metrics(task) if metrics is None else metrics)
        return model

    def monitor(self, task, has_validation: bool) -> tuple[str, str]:
        """(monitored quantity, "min" | "max") of checkpoints and early stopping."""
        if not has_validation:
            return "loss", "min"
        return "val_loss", "min"

    # --- validation --------------------------------------------------------------------------

    def validation_dataset(self, data, config: ExperimentConfig, task, batch_size: int, model=None):
        raise NotImplementedError

    def make_predict(self, model):
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def forward(x):
            return model(x, training=False)

        return forward

    def validation_logs(self, model, predict, dataset, task) -> dict:
        """``val_loss`` (and the stage's other validation quantities) of one pass over ``dataset``."""
        raise NotImplementedError


@register
class AutoencoderStage(Stage):
    """The beat autoencoder on single beats (``make_dataset(mode="beat")``), MSE."""

    name = "autoencoder"
    count_key = "beats"

    def build_model(self, config, task, *, model_kind="ecgsl", init_model=None, seed=None, target_stats=None,
                    raw_input=None):
        from ecgsl_keras.modeling import models

        return models.build_beat_autoencoder(config.model)

    def _read(self, data, config, task, raw_input, common):

        return make_dataset(str(data), mode="beat", **common)

    def loss(self, task=None, train_config=None):
        import keras

        return keras.losses.MeanSquaredError()

    def validation_dataset(self, data, config, task, batch_size, model=None):

        return make_dataset(str(data), split=VALIDATION_SPLIT, mode="beat", batch_size=batch_size)

    def validation_logs(self, model, predict, dataset, task):
        import tensorflow as tf

        total, count = 0.0, 0.0
        for x, y in dataset:
            out = predict(x)
            total += float(tf.reduce_sum(tf.reduce_mean(tf.square(out - y), axis=-1)))
            count += float(tf.shape(y)[0])
        return {"val_loss": total / max(count, 1.0)}


@register
class MaskedStage(Stage):
    """Masked-segment reconstruction over beat sequences, from an autoencoder run; loss = MSE of the
    masked beats only (the model's own ``compute_loss``)."""

    name = "masked"
    init = "required"
    init_source = "an autoencoder run"
    start_keeps = ("beat_encoder", "target_encoder", "target_normalization", "rr_target_normalization")
    tunable = True
    tune_architecture = True
    tune_mask_ratio = True

    def transfer_statistics(self, data, config, init_model):
        return masked_target_statistics(data, config, init_model)

    def build_model(self, config, task, *, model_kind="ecgsl", init_model=None, seed=None, target_stats=None,
                    raw_input=None):
        from ecgsl_keras.modeling import models

        return models.build_masked_model(config.model, init_model, seed=seed, target_stats=target_stats)

    def _read(self, data, config, task, raw_input, common):

        return make_dataset(str(data), mode="sequence", target="beats", max_beats=config.model.max_beats, **common)

    def _map(self, ds, config, task, input_context, *, raw_window, weight_table, seed=None):
        import tensorflow as tf

        return ds.map(lambda x, y: (_float_mask(x), y), num_parallel_calls=tf.data.AUTOTUNE)

    def loss(self, task=None, train_config=None):
        return None   # MaskedSegmentModel.compute_loss

    def compile(self, model, task=None, train_config=None, optimizer=None, metrics=None):
        from ecgsl_keras.modeling.models import MaskedSegmentModel

        if not isinstance(model, MaskedSegmentModel):
            raise ValueError(f"stage 'masked' needs the model from build_masked_model, got {model.name!r}")
        return super().compile(model, task, train_config, optimizer, metrics)

    def validation_dataset(self, data, config, task, batch_size, model=None):

        stride = min(config.train.eval_window_stride, config.model.max_beats)
        return make_dataset(str(data), split=VALIDATION_SPLIT, target="beats", batch_size=batch_size,
                            max_beats=config.model.max_beats, eval_stride=stride)

    def validation_logs(self, model, predict, dataset, task):
        """Mean over masked beats of each per-beat error term (the training loss)."""
        import tensorflow as tf

        from ecgsl_keras.modeling.models import masked_beat_errors

        count, parts = 0.0, {}
        for x, y in dataset:
            out = predict(x)
            weights = tf.cast(out["mask_positions"], tf.float32)
            for key, per_beat in masked_beat_errors(out, y).items():
                parts[key] = parts.get(key, 0.0) + float(tf.reduce_sum(per_beat * weights))
            count += float(tf.reduce_sum(weights))
        logs = {f"val_masked_{key}": value / max(count, 1.0) for key, value in parts.items()}
        logs["val_loss"] = logs["val_masked_main"] + getattr(model, "rr_weight", 0.0) * logs.get("val_masked_rr", 0.0)
        return logs


class ClassifierStage(Stage):
    """The ECG-SL classifier (per-beat classifier for per-beat tasks) on labelled sequences,
    augmented in training (``ecgsl_keras.data.augment``), with class weights as sample weights."""

    classifier = True
    tunable = True

    def build_model(self, config, task, *, model_kind="ecgsl", init_model=None, seed=None, target_stats=None,
                    raw_input=None):
        from ecgsl_keras.modeling import models

        cfg = config.model
        if task is None:
            raise ConfigError("<task>", "bad_config",
                              f"stage {self.name!r} needs labelled data (no label_info in the manifest)")
        if model_kind == "resnet1d":
            if task.kind == tasks_lib.PER_BEAT:
                raise ConfigError("<model>", "bad_config", "the resnet1d baseline classifies whole windows, not beats")
            length = cfg.raw_samples if raw_input == "signal" else cfg.max_beats * cfg.beat_len
            return models.build_resnet1d(cfg, task, input_samples=length)
        if task.kind == tasks_lib.PER_BEAT:
            return models.build_beat_classifier(cfg, task, pretrained=init_model)
        return models.build_classifier(cfg, task, pretrained=init_model)

    def _read(self, data, config, task, raw_input, common):
        signal = dict(include_signal=True, signal_samples=config.model.raw_samples) if raw_input == "signal" else {}
        return make_dataset(str(data), mode="sequence", target="label", max_beats=config.model.max_beats,
                            label_kind=task.kind, num_classes=task.num_classes,
                            record_fraction=config.train.label_fraction, **signal, **common)

    def _map(self, ds, config, task, input_context, *, raw_window, weight_table, seed=None):
        import tensorflow as tf

        if config.train.augment and not raw_window:

            # On the padded batches (bool mask, before _classifier_element); one seed stream per pipeline.
            ds = augment_dataset(ds, config, seed=seed + 1_000_003 * input_context.input_pipeline_id)
        return ds.map(_classifier_element(task, raw_window, weight_table, run=_run_of(config)),
                      num_parallel_calls=tf.data.AUTOTUNE)

    def loss(self, task=None, train_config=None):
        from ecgsl_keras.modeling.losses import loss_for_task

        if task is None:
            raise ValueError(f"stage {self.name!r} needs the task")
        train_config = train_config if train_config is not None else TrainConfig()
        return loss_for_task(task, train_config.label_smoothing, getattr(train_config, "focal_gamma", 0.0))

    def metrics(self, task=None):
        import keras

        if task.kind == tasks_lib.MULTICLASS:
            return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if task.kind == tasks_lib.BINARY:
            return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auroc")]
        if task.kind == tasks_lib.MULTILABEL:
            return [keras.metrics.AUC(multi_label=True, num_labels=task.num_classes, name="macro_auroc")]
        return []   # per-beat: padding would count in Keras' accuracy; evaluate with ecgsl_keras.evaluation.evaluate

    def compile(self, model, task=None, train_config=None, optimizer=None, metrics=None):
        if task is None:
            raise ValueError(f"stage {self.name!r} needs the task")
        return super().compile(model, task, train_config, optimizer, metrics)

    def monitor(self, task, has_validation):
        if not has_validation:
            return "loss", "min"
        return task.monitor, "min" if task.monitor.endswith("loss") else "max"

    def validation_dataset(self, data, config, task, batch_size, model=None):

        return evaluate.eval_dataset(str(data), VALIDATION_SPLIT, config, task, batch_size,
                                     raw_input=evaluate.raw_input_of(model, config, str(data)))

    def make_predict(self, model):

        return evaluate.make_predict_fn(model)

    def validation_logs(self, model, predict, dataset, task):
        """Windows averaged per record; ``val_loss`` (plain task loss) and the task metrics."""
        from ecgsl_keras.modeling.losses import loss_for_task

        windows = evaluate.predict_windows(predict, dataset)
        loss = float(loss_for_task(task)(windows["targets"], windows["probabilities"]))
        found = evaluate.metrics_from_windows(task, windows)
        logs = {"val_loss": loss}
        for key, value in found.items():
            if key in ("n", "windows", "threshold"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                logs[f"val_{key}"] = float(value)
        return logs


@register
class FinetuneStage(ClassifierStage):
    """The classifier initialised from a masked (or autoencoder) run by layer name; ``EncoderAdamW``
    (encoder learning-rate multiplier and warm-up)."""

    name = "finetune"
    init = "required"
    init_source = "a pre-trained run"
    tune_encoder_lr = True

    def make_optimizer(self, train_config, total_steps=None, *, model=None, steps_per_epoch=None):
        from ecgsl_keras.modeling.optimizers import make_optimizer

        return make_optimizer(train_config, total_steps, stage=self.name, model=model, steps_per_epoch=steps_per_epoch)


@register
class SupervisedStage(ClassifierStage):
    """The classifier from random weights (the "no pre-training" ablation), or the resnet1d baseline."""

    name = "supervised"
    model_kinds = ("ecgsl", "resnet1d")
    tune_architecture = True


@register
class HybridStage(FinetuneStage):
    """The hybrid classifier (``modeling.hybrid``, issue 18): the fine-tuned ECG-SL classifier plus the
    record features (data from ``prepare --record-features``) as a second input, normalised inside the
    model with statistics of the training split (``transfer_statistics``). Initialised from a
    pre-trained run or preset by layer name (``--init-from encoder``)."""

    name = "hybrid"
    init_source = "a pre-trained run or preset (e.g. encoder)"
    tunable = False

    def adapt_config(self, config, manifest):
        import dataclasses

        names = (manifest.get("metadata") or {}).get("record_feature_names") or []
        if not names:
            raise ConfigError("<data>", "bad_config", "stage 'hybrid' needs record features in the data: prepare "
                                                      "them with --record-features")
        return dataclasses.replace(config, model=dataclasses.replace(config.model, n_record_features=len(names)))

    def transfer_statistics(self, data, config, init_model):
        """Mean and std of each record feature over the TRAINING records (one vector per record, finite
        values only; ``hybrid.feature_statistics``), in the reader's deterministic order."""
        import numpy as np

        from ecgsl_keras.modeling.hybrid import feature_statistics
        from tfrecords_tools import read_examples

        rows = {}
        for example in read_examples(str(data), TRAIN_SPLIT):
            rows.setdefault(example.record_id, example.record_features)
        X = np.stack([rows[key] for key in sorted(rows)])
        if X.shape[1] != config.model.n_record_features:
            raise ConfigError("<data>", "bad_config", f"{X.shape[1]} record features stored, the manifest names "
                                                      f"{config.model.n_record_features}")
        return {"record_features": feature_statistics(X)}

    def build_model(self, config, task, *, model_kind="ecgsl", init_model=None, seed=None, target_stats=None,
                    raw_input=None):
        from ecgsl_keras.modeling import hybrid

        if task is None or task.kind == tasks_lib.PER_BEAT:
            raise ConfigError("<task>", "bad_config", "stage 'hybrid' classifies records (multiclass, multi-label "
                                                      "or binary labels)")
        stats = (target_stats or {}).get("record_features")
        return hybrid.build_hybrid_classifier(config.model, task, feature_stats=stats, pretrained=init_model)

    def _map(self, ds, config, task, input_context, *, raw_window, weight_table, seed=None):
        import tensorflow as tf

        if config.train.augment:
            from ecgsl_keras.data.augment import augment_dataset

            ds = augment_dataset(ds, config, seed=seed + 1_000_003 * input_context.input_pipeline_id)
        return ds.map(_classifier_element(task, False, weight_table, record_features=True, run=_run_of(config)),
                      num_parallel_calls=tf.data.AUTOTUNE)


STAGES = tuple(_REGISTRY)
MODELS = ("ecgsl", "resnet1d")   # model kinds: ECG-SL, or the raw-signal ResNet baseline (supervised stage)
PRETRAINING = tuple(name for name, stage in _REGISTRY.items() if stage.pretraining)
TUNABLE = tuple(name for name, stage in _REGISTRY.items() if stage.tunable)


def compile_for_stage(model, stage, task=None, train_config: TrainConfig | None = None, optimizer=None, metrics=None):
    """Compile ``model`` for ``stage`` (a name or ``Stage``): ``get_stage(stage).compile(...)``."""
    return get_stage(stage).compile(model, task, train_config, optimizer, metrics)

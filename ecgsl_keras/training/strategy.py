"""Distribution strategies for training: one device, the local GPUs, or several machines.

    strategy = get_strategy("auto")          # MirroredStrategy over >1 GPU, else one device
    with strategy.scope():
        model = ...; model.compile(...)      # variables are created per replica here
    dataset = distribute(strategy, lambda input_context: make_dataset(..., input_context=input_context))

``--strategy`` values:

* ``auto``: ``MirroredStrategy`` when more than one GPU is visible, ``OneDeviceStrategy`` on the GPU
  when there is one, else TensorFlow's default strategy (plain single-device training).
* ``mirrored``: ``MirroredStrategy`` over every local GPU; without GPUs over every logical CPU device
  (``tf.config.set_logical_device_configuration`` splits a CPU in several, as the tests do).
* ``multiworker``: ``MultiWorkerMirroredStrategy``; the cluster and this process's role come from the
  ``TF_CONFIG`` environment variable. Create it before TensorFlow runs any operation (``train`` does
  so first thing); every worker runs the same command.
* ``onedevice``: ``OneDeviceStrategy`` on the first GPU, or the CPU.

Batch sizes are given per replica; the global batch is ``per_replica * strategy.num_replicas_in_sync``.
"""
from __future__ import annotations

import json
import os

from ecgsl_keras.errors import ConfigError

STRATEGIES = ("auto", "mirrored", "multiworker", "onedevice")


def _tf():
    import tensorflow as tf

    return tf


def get_strategy(name: str = "auto", devices=None):
    """The ``tf.distribute.Strategy`` named ``name`` (one of ``STRATEGIES``).

    ``devices`` (mirrored only) overrides the device list. Raises ``ConfigError`` for an unknown
    name, or for ``multiworker`` without a usable ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise ConfigError("<strategy>", "bad_config", f"strategy must be one of {STRATEGIES}, got {name!r}")
    tf = _tf()
    if name == "multiworker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        if len(gpus) == 1:
            return tf.distribute.OneDeviceStrategy(gpus[0].name)
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices is None:
            devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=list(devices))
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def _check_tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("TF_CONFIG", "bad_config",
                          "strategy 'multiworker' needs the TF_CONFIG environment variable "
                          '({"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}})')
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError("TF_CONFIG", "bad_config", f"not valid JSON ({exc})") from None
    if not isinstance(values, dict) or "cluster" not in values or "task" not in values:
        raise ConfigError("TF_CONFIG", "bad_config", "needs 'cluster' and 'task' entries")
    return values


def task_role(strategy) -> tuple[str | None, int]:
    """(task type, task index) of this process in a multi-worker cluster; (None, 0) otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy) -> bool:
    """True for the process that writes the run folder: single-process training, the ``chief``, or
    worker 0 of a cluster without a chief (the ``MultiWorkerMirroredStrategy`` convention)."""
    task_type, task_id = task_role(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    if task_type == "worker" and task_id == 0:
        spec = strategy.cluster_resolver.cluster_spec().as_dict()
        return "chief" not in spec
    return False


def num_input_pipelines(strategy) -> int:
    """Processes reading input (1 for single-process strategies)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or task_role(strategy)[0] is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(kind, [])) for kind in ("chief", "worker"))


def distribute(strategy, dataset_fn):
    """``strategy.distribute_datasets_from_function(dataset_fn)``; ``dataset_fn(input_context)``
    must batch ``input_context.get_per_replica_batch_size(global_batch)`` examples and read only
    its share of the input (``input_context.input_pipeline_id`` of ``num_input_pipelines``)."""
    return strategy.distribute_datasets_from_function(dataset_fn)


def describe(strategy) -> dict:
    """JSON-able summary saved with the run: class, replicas, role in the cluster."""
    import tensorflow as tf

    task_type, task_id = task_role(strategy)
    name = type(strategy).__name__
    for public, public_name in ((tf.distribute.MultiWorkerMirroredStrategy, "MultiWorkerMirroredStrategy"),
                                (tf.distribute.MirroredStrategy, "MirroredStrategy"),
                                (tf.distribute.OneDeviceStrategy, "OneDeviceStrategy")):
        if isinstance(strategy, public):   # the public name (MultiWorker... is CollectiveAllReduceStrategy)
            name = public_name
            break
    return {"name": name, "replicas": int(strategy.num_replicas_in_sync),
            "input_pipelines": num_input_pipelines(strategy), "task_type": task_type, "task_id": task_id}


def is_multiworker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def needs_build_patch(strategy) -> bool:
    """True where Keras 3.15's ``fit`` cannot build a model from a distributed first batch itself."""
    import tensorflow as tf

    return (int(strategy.num_replicas_in_sync) > 1
            or isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy))


def patch_symbolic_build(model) -> None:
    """Let ``model.fit`` build metrics and optimizer from one replica's batch (Keras 3.15 workaround).

    Before its first step, Keras' TensorFlow trainer (``_maybe_symbolic_build``) averages the first
    distributed batch over replicas with ``strategy.reduce("MEAN", batch)`` only to learn its shapes
    and dtypes. That fails twice: ``MultiWorkerMirroredStrategy.reduce`` accepts one tensor, not the
    ``(inputs dict, targets, weights)`` structure, and the all-reduce has no kernel for bool tensors.
    Each replica's batch has the same dtypes and ranks (with length-aware batches the beat axis may
    differ between replicas, which the MEAN could not add up either), so the replacement takes the
    first local replica's values instead (no communication) and builds as Keras does (the models'
    beat axis is None). Training is unchanged.
    """
    import types

    import tensorflow as tf

    def first_local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return model.distribute_strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(first_local, next(it))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)


def patch_multiworker_logs(model) -> None:
    """Make ``model.fit`` work under ``MultiWorkerMirroredStrategy`` (Keras 3.15 workaround).

    After each step Keras reduces the step's logs with ``strategy.reduce("MEAN", value, axis=0)``
    on that strategy, which fails for the scalar loss and metrics ("Invalid reduction dimension 0
    for input with 0 dimensions", tensorflow/tensorflow#72388). Each log is the value of an
    all-reduced metric variable, identical on every replica; returned with shape (1,) it averages
    over replicas to the same scalar, which is what callbacks and the history receive.
    """
    import tensorflow as tf

    train_step = model.train_step

    def train_step_with_vector_logs(data):
        logs = train_step(data)
        return {name: tf.reshape(value, [1]) if tf.is_tensor(value) and value.shape.rank == 0 else value
                for name, value in logs.items()}

    model.train_step = train_step_with_vector_logs

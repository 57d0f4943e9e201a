"""``python -m ecgsl_keras.bench train --data PREPARED``: training examples/s per stage, fixed-shape
batches (every batch padded to ``max_beats``, the beat encoder on every beat: before issue 22) against
the defaults (``length_aware``: ``TrainConfig.length_aware`` batching, ``tfrecords_tools.make_dataset``,
and ``ModelConfig.real_beats_only``, the beat encoder on real beats only), issue 22. ``--also``
times more settings in the same alternation (``pad``, ``bucket``: that batching, every beat encoded;
``sort``: length-sorted windows; ``pad_gs``, ``bucket_gs``, ``sort_gs``, ``fixed_gs``: with the beat encoder
on real beats only; ``sort2_gs`` ... ``sort8_gs``: windows of that many batches), each reported
with its ratio to ``fixed`` under ``others``.

Each stage (``autoencoder``, ``masked``, ``finetune``) gets the training input of ``train``
(the stage's ``input_fn``, ``ecgsl_keras.training.stages``: augmentation and class weights for fine-tuning),
a freshly built model of the default (or ``--config``) architecture compiled as ``train`` compiles
it, and ``train_on_batch`` steps. After ``--warmup-steps`` untimed steps per path (tracing), the two
paths are timed in alternation, ``--repeats`` times each for at least ``--min-seconds``, so that a
change of machine load hits both alike; the median examples/s and the spread are reported, the
range of the per-repeat ratios (each pair timed back to back), and examples per CPU second of the
process (``*_per_cpu_second``, ``speedup_cpu``: less sensitive to other jobs on a shared machine).
Examples are sequences (beats for the autoencoder, which reads single beats: both paths are the
same there, the ratio shows the noise of the measure).

FLOPs per example: TensorFlow's profiler (``float_operation``) on the frozen inference graph of
each stage's model for one example of ``max_beats`` beats and one of the mean batch length
measured on the length-aware path; a training step is estimated as 3x the forward pass (forward +
backward), so ``achieved_gflops`` = 3 x forward FLOPs x examples/s can be read against the CPU's peak.
"""
from __future__ import annotations

import dataclasses
import os
import time

from ecgsl_keras.bench import add_repeat_arguments, spread
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.errors import ConfigError

STAGES = ("autoencoder", "masked", "finetune")
# path -> (TrainConfig.length_aware, ModelConfig.real_beats_only, TrainConfig.sort_window_batches or None:
# the config's); "length_aware": the config's own settings.
SETTINGS = {"fixed": (False, False, None), "pad": ("pad", False, None), "pad_gs": ("pad", True, None),
            "bucket": ("bucket", False, None), "bucket_gs": ("bucket", True, None), "fixed_gs": (False, True, None),
            "sort": ("sort", False, None), "sort_gs": ("sort", True, None), "sort2_gs": ("sort", True, 2),
            "sort4_gs": ("sort", True, 4), "sort8_gs": ("sort", True, 8)}
FLOPS_METHOD = ("tf.compat.v1.profiler float_operation on the frozen inference graph (batch 1); "
                "train step estimated as 3x forward")


def add_arguments(parser) -> None:
    parser.add_argument("--data", required=True, help="a prepared folder (python -m ecgsl_keras.prepare)")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--config", default=None, help="an ExperimentConfig JSON (default: the defaults)")
    parser.add_argument("--batch-size", type=int, default=None, help="per step (default: the config's)")
    parser.add_argument("--warmup-steps", type=int, default=8, help="untimed steps per path first (default 8)")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOPs estimate")
    parser.add_argument("--also", nargs="+", default=[], choices=[k for k in SETTINGS if k != "fixed"],
                        help="more settings timed in the same alternation (reported under others)")
    add_repeat_arguments(parser, repeats=3, min_seconds=10.0)


def _config(args) -> ExperimentConfig:
    config = ExperimentConfig.load(args.config) if args.config else ExperimentConfig()
    if args.batch_size:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, batch_size=int(args.batch_size)))
    return config


def _with_setting(config, path: str):
    """``config`` with the batching and beat encoding of ``path`` (``length_aware``: unchanged)."""
    if path == "length_aware":
        return config
    length_aware, real_only, window = SETTINGS[path]
    train = dataclasses.replace(config.train, length_aware=length_aware)
    if window is not None:
        train = dataclasses.replace(train, sort_window_batches=window)
    return dataclasses.replace(config, train=train, model=dataclasses.replace(config.model, real_beats_only=real_only))


def _build(stage, config, task, seed):
    import keras

    from ecgsl_keras.training.stages import get_stage

    keras.utils.set_random_seed(seed)
    stage = get_stage(stage)
    model = stage.build_model(config, task, seed=seed)   # random weights: the step costs the same
    optimizer = stage.make_optimizer(config.train, 10_000, model=model, steps_per_epoch=1000)
    stage.compile(model, task, train_config=config.train, optimizer=optimizer)
    return model


def _forward_flops(model, example_spec) -> int | None:
    """Float operations of one forward pass (inference) for inputs of ``example_spec``."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(example_spec)
    frozen = convert_variables_to_constants_v2(function)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, options=options)
    return int(profile.total_float_ops) if profile is not None else None


def _spec(stage, config, steps):
    import tensorflow as tf

    cfg = config.model
    if stage == "autoencoder":
        return tf.TensorSpec((1, cfg.beat_width), tf.float32)
    return {"beats": tf.TensorSpec((1, steps, cfg.beat_width), tf.float32),
            "rr": tf.TensorSpec((1, steps, cfg.n_rr_features), tf.float32),
            "padding_mask": tf.TensorSpec((1, steps), tf.float32)}


class _Runner:
    """One stage on one path: its input iterator and model; ``step()`` trains on one batch."""

    def __init__(self, stage, data, manifest, config, task, path: str):
        import tensorflow as tf

        from ecgsl_keras.training.inputs import class_weights
        from ecgsl_keras.training.stages import get_stage

        config = _with_setting(config, path)
        weights = None
        if stage == "finetune" and config.train.class_weights:
            weights = class_weights(manifest, task, cap=config.train.class_weight_cap)
        fn = get_stage(stage).input_fn(data, manifest, config, task, int(config.train.batch_size), weights=weights)
        self.iterator = iter(fn(tf.distribute.InputContext()))
        self.model = _build(stage, config, task, config.train.seed)
        self.stage = stage
        self.beats = []      # beat axis of each timed batch

    def step(self) -> dict:
        element = next(self.iterator)
        x, y = element[0], element[1]
        weights = element[2] if len(element) > 2 else None
        self.model.train_on_batch(x, y, sample_weight=weights)
        n = int(y.shape[0])
        if self.stage != "autoencoder":
            self.beats.append(int(x["beats"].shape[1]))
        return {"examples": n}


def format_table(result: dict) -> str:
    """The bench's table without the per-repeat detail (which stays in the JSON line)."""
    from ecgsl_keras.bench import format_table as table

    return table({k: v for k, v in result.items() if k != "detail"})


def _timed(step, min_seconds: float) -> tuple[float, float]:
    """Examples per wall-clock second and per CPU second of this process (all its threads: less
    sensitive to other jobs on a shared machine) over at least ``min_seconds`` and 2 steps."""
    examples, n = 0, 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        examples += step()["examples"]
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and n >= 2:
            break
    return examples / elapsed, examples / max(time.process_time() - cpu_start, 1e-9)


def run(args) -> dict:
    from tfrecords_tools import load_manifest

    from ecgsl_keras.training.trainer import resolve_task

    data = os.fspath(args.data)
    manifest = load_manifest(data)
    task = resolve_task(manifest, data)
    if "finetune" in args.stages and task is None:
        raise ConfigError(data, "bad_config", "the finetune stage needs labelled data")
    config = _config(args)
    paths = ["fixed", "length_aware"] + [p for p in dict.fromkeys(args.also) if p != "fixed"]
    load_before = os.getloadavg()
    load_samples = [load_before[0]]
    started = time.perf_counter()
    stages, detail, flops = {}, {}, {}
    for stage in args.stages:
        runners = {path: _Runner(stage, data, manifest, config, task, path) for path in paths}
        for runner in runners.values():
            for _ in range(max(0, int(args.warmup_steps))):
                runner.step()
            runner.beats.clear()
        rates = {path: [] for path in paths}
        cpu_rates = {path: [] for path in paths}
        for _ in range(int(args.repeats)):
            for path, runner in runners.items():
                wall, cpu = _timed(runner.step, args.min_seconds)
                rates[path].append(wall)
                cpu_rates[path].append(cpu)
            load_samples.append(os.getloadavg()[0])
        spreads = {path: spread(values) for path, values in rates.items()}
        cpu_spreads = {path: spread(values) for path, values in cpu_rates.items()}
        fixed, aware = spreads["fixed"]["median"], spreads["length_aware"]["median"]
        pairs = [a / f for a, f in zip(rates["length_aware"], rates["fixed"])]
        cpu_fixed, cpu_aware = cpu_spreads["fixed"]["median"], cpu_spreads["length_aware"]["median"]
        row = {"fixed": round(fixed, 2), "length_aware": round(aware, 2), "speedup": round(aware / fixed, 3),
               "speedup_pairs_min": round(min(pairs), 3), "speedup_pairs_max": round(max(pairs), 3),
               "fixed_spread_percent": round(spreads["fixed"]["spread_percent"], 1),
               "length_aware_spread_percent": round(spreads["length_aware"]["spread_percent"], 1),
               "fixed_per_cpu_second": round(cpu_fixed, 2), "length_aware_per_cpu_second": round(cpu_aware, 2),
               "speedup_cpu": round(cpu_aware / cpu_fixed, 3)}
        others = {}
        for path in paths[2:]:
            ratios = [a / f for a, f in zip(rates[path], rates["fixed"])]
            others[path] = {"examples_per_second": round(spreads[path]["median"], 2),
                            "speedup": round(spreads[path]["median"] / fixed, 3),
                            "speedup_pairs_min": round(min(ratios), 3), "speedup_pairs_max": round(max(ratios), 3),
                            "spread_percent": round(spreads[path]["spread_percent"], 1),
                            "speedup_cpu": round(cpu_spreads[path]["median"] / cpu_fixed, 3)}
            if stage != "autoencoder":
                others[path]["beats_per_batch"] = round(sum(runners[path].beats) / max(1, len(runners[path].beats)), 1)
        if others:
            row["others"] = others
        mean_beats = None
        if stage != "autoencoder":
            beats = {path: sum(r.beats) / max(1, len(r.beats)) for path, r in runners.items()}
            row.update(beats_per_batch_fixed=round(beats["fixed"], 1),
                       beats_per_batch_length_aware=round(beats["length_aware"], 1))
            mean_beats = max(1, int(round(beats["length_aware"])))
        stages[stage] = row
        detail[stage] = {**spreads, "speedup_per_repeat": [round(p, 3) for p in pairs],
                         "examples_per_second_per_repeat": {p: [round(v, 2) for v in r] for p, r in rates.items()},
                         "per_cpu_second": cpu_spreads}
        if not args.no_flops:
            model = runners["fixed"].model
            at_max = _forward_flops(model, _spec(stage, config, config.model.max_beats))
            entry = {"forward_at_max_beats": at_max}
            if mean_beats is not None:
                entry["mean_batch_beats"] = mean_beats
                entry["forward_at_mean_batch_beats"] = _forward_flops(model, _spec(stage, config, mean_beats))
                aware_flops = entry["forward_at_mean_batch_beats"]
            else:
                aware_flops = at_max
            entry["achieved_gflops_fixed"] = round(3 * at_max * fixed / 1e9, 3) if at_max else None
            entry["achieved_gflops_length_aware"] = round(3 * aware_flops * aware / 1e9, 3) if aware_flops else None
            flops[stage] = entry
        del runners
    result = {"bench": "train", "data": data, "batch_size": int(config.train.batch_size),
              "max_beats": int(config.model.max_beats),
              "length_aware_setting": {"length_aware": config.train.length_aware,
                                       "real_beats_only": bool(config.model.real_beats_only)},
              "fixed_setting": {"length_aware": False, "real_beats_only": False}, "stages": stages,
              "flops_per_example": flops, "flops_method": FLOPS_METHOD,
              "repeats": int(args.repeats), "min_seconds": float(args.min_seconds),
              "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()],
              "load_average_1min_per_repeat": [round(v, 2) for v in load_samples],
              "cpu_count": os.cpu_count(), "seconds": round(time.perf_counter() - started, 1),
              "detail": detail}
    return result

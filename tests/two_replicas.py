"""Two-replica checks: ``tf.distribute.MirroredStrategy`` on the CPU split in two logical devices.

The logical devices must be configured before TensorFlow initialises, which it has done in a pytest
worker, so the checks run in a fresh Python process; tests/test_two_replicas.py starts this script
ONCE for all of them (one TensorFlow start instead of one per check) and asserts on each check's
report in its own test:

    python tests/two_replicas.py SPEC_JSON      # {"out": folder, "data": prepared CinC sample, "checks": [names]}

Each named check runs in turn whatever the others did, with its own folder ``OUT/<check>`` and the
process's one ``MirroredStrategy`` (``get_strategy("mirrored")``: the two logical CPUs); the
last line of stdout is one JSON object ``{check: {"result": ..., "error": traceback or null,
"wall_s": ..., "cpu_s": ...}}``.
"""
import json
import sys
import time
import traceback
from pathlib import Path

import tensorflow as tf

# Two logical CPU devices, before TensorFlow initialises: two replicas in one process.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))   # tests/helpers
from helpers import SMALL_MODEL, cinc_batch, tiny_experiment_config  # noqa: E402


def mirrored_two_replicas_match_one_replica(out: Path, data: str, mirrored) -> dict:
    """One supervised train run on 1 replica x 8 and one on 2 replicas x 4 (the same global batch);
    writes ``OUT/{one,two}.npz`` (final weights) and the run folders ``OUT/{one,two}/``."""
    import dataclasses

    from ecgsl_keras.config import TrainConfig
    from ecgsl_keras.training import strategy as strategy_lib
    from ecgsl_keras.training.trainer import train

    # Dropout 0 so that both runs compute the same function; the data order is seeded. No
    # augmentation: its draws are per batch, and the per-replica batches differ (8 vs 4). Fixed-shape
    # batches: length-aware ones are grouped by length per replica batch size, so 8 and 2 x 4 would
    # hold other examples (replicas of different lengths: two_replicas_with_different_lengths_train).
    # The tiny model: what is checked is the replicas' gradient reduction, not the model.
    config = tiny_experiment_config(dropout=0.0)
    dataclasses.replace(config, train=TrainConfig(augment=False, length_aware=False)).save(out / "config.json")
    result = {}
    for name, strategy, per_replica in (("one", strategy_lib.get_strategy("onedevice"), 8), ("two", mirrored, 4)):
        train("supervised", data, out / name, config=str(out / "config.json"), strategy=strategy, batch_size=per_replica, epochs=2,
              seed=11, verbose=0)
        model = keras.models.load_model(out / name / "last.keras", compile=False)
        np.savez(out / f"{name}.npz", *model.get_weights())
        info = json.loads((out / name / "config.json").read_text())
        result[name] = {"replicas": strategy.num_replicas_in_sync, "global_batch": info["global_batch_size"]}
    return result


def masked_loss_under_mirrored_strategy(out: Path, data: str, strategy) -> dict:
    """The masked model on 2 replicas: its reported loss, the loss expected from its outputs (mean of the
    per-replica masked means), and the losses of a short fit."""
    from ecgsl_keras.config import ModelConfig
    from ecgsl_keras.modeling import models

    features, _ = cinc_batch(6, 32)
    features = {k: v[:4] for k, v in features.items()}
    with strategy.scope():
        model = models.build_masked_model(ModelConfig(**SMALL_MODEL), seed=3)
        model.compile(optimizer="adam")
    # A bool padding_mask cannot go through Keras' cross-replica build: cast (models.cast_bool_inputs).
    ds = tf.data.Dataset.from_tensors((features, features["beats"])).map(models.cast_bool_inputs)
    features = {k: np.asarray(v) for k, v in next(iter(ds))[0].items()}
    assert features["padding_mask"].dtype == np.float32
    prediction = model.predict(features, batch_size=4, verbose=0)      # each replica: 2 sequences
    terms = [(((prediction["prediction"] - prediction["target"]) ** 2).mean(-1), 1.0),
             (((prediction["rr_prediction"] - prediction["rr_target"]) ** 2).mean(-1), model.rr_weight)]
    pos = prediction["mask_positions"].astype(bool)
    assert not (pos & (features["padding_mask"] == 0)).any()
    expected = np.mean([sum(w * per_beat[r * 2:(r + 1) * 2][pos[r * 2:(r + 1) * 2]].mean() for per_beat, w in terms)
                        for r in range(2)])
    loss = model.evaluate(features, features["beats"], batch_size=4, verbose=0)
    history = model.fit(ds.repeat(3), epochs=1, verbose=0)
    return {"replicas": strategy.num_replicas_in_sync, "loss": loss, "expected": float(expected),
            "train_losses": history.history["loss"]}


def two_replicas_with_different_lengths_train(out: Path, data: str, strategy) -> dict:
    """A classifier fit on 2 replicas whose batches have different beat counts (length-aware
    batching); returns the first step's lengths per replica and the losses."""
    from ecgsl_keras import tasks
    from ecgsl_keras.config import ModelConfig
    from ecgsl_keras.modeling import models
    from ecgsl_keras.training import strategy as strategy_lib
    from ecgsl_keras.training.stages import compile_for_stage

    cfg = ModelConfig(embed_dim=16, conv_filters=(8, 8, 8), d_model=32, num_heads=2, ff_dim=32, num_layers=1,
                      attention_units=16, head_units=16)

    def dataset_fn(context):
        steps = (9, 23)[context.input_pipeline_id % 2] if context.num_input_pipelines > 1 else None
        rng = np.random.default_rng(context.input_pipeline_id)

        def batches():
            for i in range(4):
                t = steps or int(rng.integers(5, 30))
                t += i  # a new length every step as well
                mask = np.arange(t)[None, :] < rng.integers(3, t + 1, size=(4, 1))
                yield ({"beats": rng.normal(size=(4, t, 96)).astype("float32") * mask[..., None],
                        "rr": np.ones((4, t, 3), "float32") * mask[..., None],
                        "padding_mask": mask.astype("float32")}, rng.integers(0, 4, size=4).astype("int32"))

        spec = ({"beats": tf.TensorSpec((None, None, 96)), "rr": tf.TensorSpec((None, None, 3)),
                 "padding_mask": tf.TensorSpec((None, None))}, tf.TensorSpec((None,), tf.int32))
        return tf.data.Dataset.from_generator(batches, output_signature=spec).repeat()

    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    first = next(iter(dataset))
    seen = [int(t.shape[1]) for t in strategy.experimental_local_results(first[0]["beats"])]
    with strategy.scope():
        model = compile_for_stage(models.build_classifier(cfg, tasks.CINC2017), "supervised",
                                  task=tasks.CINC2017)
    strategy_lib.patch_symbolic_build(model)
    history = model.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0)
    return {"lengths": seen, "loss": history.history["loss"]}


# each check is named as its test in tests/test_two_replicas.py, less "test_"
CHECKS = {f.__name__: f for f in (mirrored_two_replicas_match_one_replica, masked_loss_under_mirrored_strategy,
                                  two_replicas_with_different_lengths_train)}


def main(spec: dict) -> dict:
    from ecgsl_keras.training import strategy as strategy_lib

    unknown = sorted(set(spec["checks"]) - set(CHECKS))
    if unknown:
        raise SystemExit(f"unknown checks {unknown}; known: {sorted(CHECKS)}")
    # ONE MirroredStrategy for every check: a second one over the same devices starts its collective
    # keys where the first did, and their all-reduces then collide ("Shape mismatch in the collective
    # instance 100"), after which every collective of the process is aborted.
    mirrored = strategy_lib.get_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2, mirrored.extended.worker_devices
    report = {}
    for name in spec["checks"]:
        out = Path(spec["out"]) / name
        out.mkdir(parents=True, exist_ok=True)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            report[name] = {"result": CHECKS[name](out, spec.get("data"), mirrored), "error": None}
        except Exception:   # reported to that check's test; the other checks still run
            report[name] = {"result": None, "error": traceback.format_exc()}
        report[name].update(wall_s=round(time.perf_counter() - wall, 1), cpu_s=round(time.process_time() - cpu, 1))
    return report


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))

"""Distributed training on CPU: two replicas in one process, and two worker processes on loopback.

Both need TensorFlow configured before it starts (logical devices, TF_CONFIG), so each runs in a
fresh Python process.
"""
import csv
import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import tiny_experiment_config

REPO = Path(__file__).resolve().parents[1]


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf

    # Two logical CPU devices, before TensorFlow initialises: two replicas in one process.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    import numpy as np
    from ecgsl_keras.training import strategy as strategy_lib
    from ecgsl_keras.training.trainer import train

    data, out, config = sys.argv[1:4]
    result = {}
    # the same global batch (8): 1 replica x 8, then 2 replicas x 4
    for name, strategy, per_replica in (("one", strategy_lib.get_strategy("onedevice"), 8),
                                        ("two", strategy_lib.get_strategy("mirrored"), 4)):
        summary = train("supervised", data, f"{out}/{name}", config=config, strategy=strategy,
                        batch_size=per_replica, epochs=2, seed=11, verbose=0)
        model = keras.models.load_model(f"{out}/{name}/last.keras", compile=False)
        np.savez(f"{out}/{name}.npz", *model.get_weights())
        info = json.load(open(f"{out}/{name}/config.json"))
        result[name] = {"replicas": strategy.num_replicas_in_sync, "global_batch": info["global_batch_size"]}
    print(json.dumps(result))
""")


@pytest.mark.slow
def test_mirrored_two_replicas_match_one_replica(cinc_sample_tfrecords, tmp_path):
    from ecgsl_keras.config import TrainConfig

    # Dropout 0 so that both runs compute the same function; the data order is seeded. No
    # augmentation: its draws are per batch, and the per-replica batches differ (8 vs 4). Fixed-shape
    # batches: length-aware ones are grouped by length per replica batch size, so 8 and 2 x 4 would
    # hold other examples (replicas of different lengths: tests/test_length_aware.py). The tiny model:
    # what is checked is the replicas' gradient reduction, not the model.
    config = tiny_experiment_config(dropout=0.0)
    dataclasses.replace(config, train=TrainConfig(augment=False, length_aware=False)).save(tmp_path / "config.json")
    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(cinc_sample_tfrecords), str(tmp_path),
                           str(tmp_path / "config.json")], env=_env(), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["one"] == {"replicas": 1, "global_batch": 8}
    assert result["two"] == {"replicas": 2, "global_batch": 8}
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert one.files == two.files and len(one.files) > 10
    for key in one.files:
        np.testing.assert_allclose(one[key], two[key], atol=2e-4, rtol=1e-3)
    # the logged training losses agree too (metrics are all-reduced over the replicas)
    rows = {name: list(csv.DictReader(open(tmp_path / name / "history.csv"))) for name in ("one", "two")}
    for a, b in zip(rows["one"], rows["two"]):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-3)


WORKER = textwrap.dedent("""
    import json, sys
    import keras
    import numpy as np
    from ecgsl_keras.training.trainer import train

    data, run_dir, out, config = sys.argv[1:5]

    class SaveFinalWeights(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            np.savez(out, *[np.asarray(w) for w in self.model.get_weights()])

    summary = train("supervised", data, run_dir, config=config, strategy="multiworker", epochs=1, batch_size=4,
                    seed=7, verbose=0, callbacks=[SaveFinalWeights()])
    print(json.dumps(summary))
""")


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_multiworker_two_processes_on_loopback(cinc_sample_tfrecords, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    run_dir = tmp_path / "run"
    tiny_experiment_config().save(tmp_path / "config.json")   # the workers' all-reduce, not the model, is tested
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(cinc_sample_tfrecords), str(run_dir), str(tmp_path / f"w{index}.npz"),
             str(tmp_path / "config.json")],
            env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=400)
            assert proc.returncode == 0, err[-4000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    chief, worker = outputs
    assert chief["chief"] and not worker["chief"]
    assert chief["epochs_completed"] == 1 and worker["epochs_run_now"] == 1
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert w0.files == w1.files and len(w0.files) > 10
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])
    # only the chief wrote the run folder; the other worker's scratch folder is gone
    info = json.loads((run_dir / "config.json").read_text())
    assert info["strategy"]["name"] == "MultiWorkerMirroredStrategy"
    assert info["strategy"]["input_pipelines"] == 2 and info["status"] == "finished"
    assert info["global_batch_size"] == 8
    assert (run_dir / "model.keras").is_file() and (run_dir / "metrics.json").is_file()
    assert not (run_dir / ".workers").exists()


def test_strategy_names(monkeypatch):
    from ecgsl_keras.training import strategy as strategy_lib
    from ecgsl_keras.errors import ConfigError

    assert strategy_lib.get_strategy("auto").num_replicas_in_sync == 1
    single = strategy_lib.get_strategy("onedevice")
    assert single.num_replicas_in_sync == 1 and strategy_lib.is_chief(single)
    assert strategy_lib.describe(single)["input_pipelines"] == 1
    with pytest.raises(ConfigError, match="strategy must be one of"):
        strategy_lib.get_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        strategy_lib.get_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        strategy_lib.get_strategy("multiworker")

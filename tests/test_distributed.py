"""Distributed training on CPU: two worker processes on loopback (two replicas in one process:
tests/test_two_replicas.py).

The workers need TensorFlow configured before it starts (TF_CONFIG), so each runs in a fresh Python process.
"""
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


# one xdist unit with the suite's other long single runs (--dist loadgroup sends units of several tests before
# single tests): they start early instead of leaving one worker busy with one of them at the end
@pytest.mark.xdist_group("long_runs")
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

"""Shared fixtures: paths to the real data fixture shipped in the repo (no ../shared needed)."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _share_the_cores_between_workers():
    """Under pytest-xdist (pytest.ini: two workers), each worker's TensorFlow sizes its op thread pools to its
    share of the cores (cores // workers, at least 1) instead of to every core: two workers on 2 cores,
    each with pools for 2, spent 10-20% more CPU time on the same tests (threads spinning and switching).
    This process only: the subprocesses that tests start (two replicas, two workers) keep TensorFlow's sizes."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if not os.environ.get("PYTEST_XDIST_WORKER") or workers < 2:
        return
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // workers)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:   # TensorFlow already initialised (a plugin ran an op first): its own sizes stay
        pass


_share_the_cores_between_workers()

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
CINC_SAMPLE = REPO / "ecgsl_keras" / "data" / "cinc2017_sample"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def cinc_dir() -> Path:
    return CINC_SAMPLE


@pytest.fixture(scope="session")
def cinc_sample_tfrecords(tmp_path_factory, cinc_dir) -> Path:
    """The embedded CinC 2017 sample prepared once per session (51 train / 13 validation records),
    in shards of ~150 kB so that two workers can split the training shards between them."""
    from ecgsl_keras.data.prepare import prepare

    out = tmp_path_factory.mktemp("cinc_sample_tfrecords") / "data"
    prepare("cinc2017", cinc_dir, out, workers=1, shard_size_bytes=150_000, progress=False)
    return out

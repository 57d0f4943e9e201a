"""Shared fixtures: paths to the real data fixture shipped in the repo (no ../shared needed)."""
import os
import shutil
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:          # Windows has no fcntl: each worker prepares its own copy
    fcntl = None

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
    in shards of ~150 kB so that two workers can split the training shards between them. Tests only read
    it (those that change it copy it first), so the pytest-xdist workers share one: the first to need it
    prepares it in their common base folder under a file lock, the others wait for it (each preparing its
    own cost a full prepare of the sample per worker)."""
    from ecgsl_keras.data.prepare import prepare

    base = tmp_path_factory.getbasetemp()
    if fcntl is None or not os.environ.get("PYTEST_XDIST_WORKER"):
        out = tmp_path_factory.mktemp("cinc_sample_tfrecords") / "data"
        prepare("cinc2017", cinc_dir, out, workers=1, shard_size_bytes=150_000, progress=False)
        return out
    shared = base.parent / "cinc_sample_tfrecords"          # the workers' base folders share this parent
    with open(base.parent / "cinc_sample_tfrecords.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "done").is_file():                  # a worker killed while preparing left no "done"
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir()
            prepare("cinc2017", cinc_dir, shared / "data", workers=1, shard_size_bytes=150_000, progress=False)
            (shared / "done").write_text("")
    return shared / "data"

"""Shared fixtures: paths to the real data fixture shipped in the repo (no ../shared needed)."""
import os
from pathlib import Path

import pytest

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
    in shards of ~150 kB so that two workers can split the training shards between them."""
    from ecgsl_keras.data.prepare import prepare

    out = tmp_path_factory.mktemp("cinc_sample_tfrecords") / "data"
    prepare("cinc2017", cinc_dir, out, workers=1, shard_size_bytes=150_000, progress=False)
    return out

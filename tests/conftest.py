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

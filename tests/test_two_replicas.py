"""Two replicas in one process (``MirroredStrategy`` on the CPU split in two logical devices): one
replica and two give the same training, the masked loss is the mean of the per-replica losses, and
replicas of different lengths train.

The devices must be configured before TensorFlow starts, so the checks run in a fresh Python process
(tests/two_replicas.py); ONE such process runs the checks of every selected test of this module
(one TensorFlow start and a shared worker, not three), and each test asserts on its own check's report.
Under pytest-xdist the module's tests share one worker (``xdist_group``, pytest.ini's ``--dist loadgroup``);
should they be spread anyway (another ``--dist``), the first worker to need the report makes it and the other
waits for it (a file lock in the run's shared temporary folder), so the process runs once per test run.
"""
import contextlib
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "two_replicas.py"
FIXTURE = "two_replicas"
# one xdist worker runs this module's tests (pytest.ini's --dist loadgroup), so no worker waits on the other's process
pytestmark = pytest.mark.xdist_group("two_replicas")


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """Hold an exclusive lock on ``lock_path`` (POSIX); without fcntl, no lock (each worker runs its own)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def two_replicas(request, tmp_path_factory, cinc_sample_tfrecords):
    """``{"report": {check: {"result", "error"}}, "out": folder, "returncode", "stderr"}`` of one run of
    tests/two_replicas.py with the checks of this module's selected tests."""
    checks = sorted(item.originalname.removeprefix("test_") for item in request.session.items
                    if FIXTURE in getattr(item, "fixturenames", ()) and item.path == Path(__file__))
    # workers of one xdist run share their basetemp's parent; a run without xdist keeps its own basetemp
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out, saved = shared / "two_replicas", shared / "two_replicas.json"
    with _exclusive(shared / "two_replicas.lock"):
        if not saved.exists():
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
            spec = {"out": str(out), "data": str(cinc_sample_tfrecords), "checks": checks}
            try:
                proc = subprocess.run([sys.executable, str(SCRIPT), json.dumps(spec)], cwd=REPO, env=env,
                                      capture_output=True, text=True, timeout=540)
                returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
            except subprocess.TimeoutExpired as expired:   # saved too: the other tests fail at once, not again
                returncode, stdout = "timed out after 540 s", ""
                stderr = (expired.stderr or b"").decode(errors="replace") if isinstance(expired.stderr, bytes) \
                    else (expired.stderr or "")
            lines = stdout.strip().splitlines()
            report = json.loads(lines[-1]) if returncode == 0 and lines else {}
            saved.write_text(json.dumps({"report": report, "out": str(out), "returncode": returncode,
                                         "stderr": stderr[-4000:]}))
    return json.loads(saved.read_text())


def _check(two_replicas, name):
    """The result of check ``name``; fails with its traceback (or the process's stderr) when it failed."""
    assert two_replicas["returncode"] == 0, f"exit {two_replicas['returncode']}: {two_replicas['stderr']}"
    entry = two_replicas["report"].get(name)
    assert entry is not None, f"check {name} did not run: {sorted(two_replicas['report'])}"
    earlier = [n for n in list(two_replicas["report"])[:list(two_replicas["report"]).index(name)]
               if two_replicas["report"][n]["error"] is not None]
    # an aborted collective fails the checks after it in the process too: name the first failures
    assert entry["error"] is None, entry["error"] + (f"\n(failed before it in the same process: {earlier})"
                                                     if earlier else "")
    return entry["result"], Path(two_replicas["out"]) / name


@pytest.mark.slow
def test_mirrored_two_replicas_match_one_replica(two_replicas):
    """The same supervised training (dropout 0, seeded order, no augmentation, fixed-shape batches) on
    1 replica x 8 and 2 replicas x 4: the replicas' gradient reduction gives the same weights and losses."""
    result, out = _check(two_replicas, "mirrored_two_replicas_match_one_replica")
    assert result["one"] == {"replicas": 1, "global_batch": 8}
    assert result["two"] == {"replicas": 2, "global_batch": 8}
    one, two = np.load(out / "one.npz"), np.load(out / "two.npz")
    assert one.files == two.files and len(one.files) > 10
    for key in one.files:
        np.testing.assert_allclose(one[key], two[key], atol=2e-4, rtol=1e-3)
    # the logged training losses agree too (metrics are all-reduced over the replicas)
    rows = {name: list(csv.DictReader(open(out / name / "history.csv"))) for name in ("one", "two")}
    for a, b in zip(rows["one"], rows["two"]):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-3)


@pytest.mark.slow
def test_masked_loss_under_mirrored_strategy(two_replicas):
    """Two replicas: the reported loss (latent + RR terms) is the mean of the per-replica masked means,
    i.e. each replica's loss was scaled by 1/2 before the sum."""
    result, _ = _check(two_replicas, "masked_loss_under_mirrored_strategy")
    assert result["replicas"] == 2
    assert result["loss"] == pytest.approx(result["expected"], rel=1e-4)
    assert all(np.isfinite(result["train_losses"]))


@pytest.mark.slow
def test_two_replicas_with_different_lengths_train(two_replicas):
    """Length-aware batches (issue 22): a two-replica step whose replicas hold different beat counts trains."""
    result, _ = _check(two_replicas, "two_replicas_with_different_lengths_train")
    assert len(set(result["lengths"])) == 2, result
    assert np.isfinite(result["loss"]).all()

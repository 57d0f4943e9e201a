"""A killed ``prepare`` can be rerun (issue 12): finished shards are kept after their SHA-256 is checked,
only the missing records are done again, and stale staging folders go without --overwrite."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.data.prepare import prepare

REPO = Path(__file__).resolve().parents[1]
SHARD_MB = 0.02     # about 2 records per shard: many shards finish before the kill


def _examples(folder):
    from tfrecords_tools import read_examples

    return {ex.record_id: (ex.beats, ex.rr, ex.label) for ex in read_examples(folder)}


# a real prepare process (TensorFlow import included) is started and killed: about 9 s on 2 idle cores
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_killed_prepare_resumes_keeping_verified_shards(tmp_path, cinc_dir, cinc_sample_tfrecords):
    out = tmp_path / "data"
    args = ["--dataset", "cinc2017", "--data-dir", str(cinc_dir), "--out", str(out), "--shard-size-mb", str(SHARD_MB),
            "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "ecgsl_keras.prepare", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    progress, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:      # kill once 4 shards are finished
        progress = list(out.glob(".staging-*/progress.json"))
        if progress and len(json.loads(progress[0].read_text())["shards"]) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "prepare finished before it could be killed: " + proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    staging = progress[0].parent
    finished = json.loads(progress[0].read_text())["shards"]
    assert not (out / "manifest.json").exists() and [p.name for p in out.iterdir()] == [staging.name]
    # the killed run's folder does not pass for a data set
    from tfrecords_tools import TFRecordsError, load_manifest
    with pytest.raises(TFRecordsError, match="staging"):
        load_manifest(out)
    # one finished shard damaged after the kill: it must be done again, not trusted
    damaged = staging / finished[0]["file"]
    damaged.write_bytes(damaged.read_bytes()[:-7] + b"garbage")

    summary = prepare("cinc2017", cinc_dir, out, shard_size_bytes=int(SHARD_MB * (1 << 20)), progress=False)
    resumed = summary["resumed"]
    kept = sum(len(s["keys"]) for s in finished[1:])
    assert resumed["shards"] >= len(finished) - 1 and resumed["records"] >= kept > 0
    assert resumed["shards_redone"] == [finished[0]["file"]]
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    reference = json.loads((cinc_sample_tfrecords / "manifest.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("examples", "beats"):
        assert manifest["totals"][key] == reference["totals"][key]
    assert manifest["label_counts"] == reference["label_counts"]
    assert summary["records_written"] == reference["totals"]["examples"]
    got, want = _examples(out), _examples(cinc_sample_tfrecords)
    assert sorted(got) == sorted(want)
    for rid, (beats, rr, label) in want.items():
        np.testing.assert_array_equal(got[rid][0], beats)
        np.testing.assert_array_equal(got[rid][1], rr)
        np.testing.assert_array_equal(got[rid][2], label)
    # every shard matches the manifest's SHA-256
    from tfrecords_tools.__main__ import verify
    assert verify(str(out))["ok"]


def test_stale_staging_is_cleaned_without_overwrite_and_a_live_one_refused(tmp_path, cinc_dir):
    out = tmp_path / "data"
    stale = out / ".staging-0123456789"
    stale.mkdir(parents=True)
    (stale / "cinc2017-train-00000.tfrecord.tmp").write_bytes(b"half a shard")
    (stale / "owner.json").write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": os.uname().nodename}))
    summary = prepare("cinc2017", cinc_dir, out, limit=3, progress=False)
    assert summary["records_written"] == 3 and not stale.exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []

    out2 = tmp_path / "busy"
    live = out2 / ".staging-abcdefabcd"
    live.mkdir(parents=True)
    (live / "owner.json").write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    with pytest.raises(ValueError, match="another writer"):
        prepare("cinc2017", cinc_dir, out2, limit=3, progress=False)
    assert live.exists()
    # --overwrite replaces finished output, never a live writer's staging (two runs started 1.5 s apart)
    with pytest.raises(ValueError, match="another writer"):
        prepare("cinc2017", cinc_dir, out2, limit=3, progress=False, overwrite=True)
    assert (live / "owner.json").is_file()

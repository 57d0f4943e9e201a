"""Remote storage through tf.io.gfile (issue 12): TensorFlow's in-memory ``ram://`` filesystem stands for
``gs://``; nothing below touches a local path for the data, so every access goes through gfile."""
import json

import numpy as np
import pytest

from ecgsl_keras.errors import ECGSLError
from ecgsl_keras.prepare import main as prepare_main
from ecgsl_keras.prepare import prepare


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_prepare_to_ram_and_read_back_with_make_dataset(cinc_dir, capsys):
    import tensorflow as tf

    from tfrecords_tools import load_manifest, make_dataset

    out = "ram://issue12/prepared"
    summary = prepare("cinc2017", cinc_dir, out, limit=8, progress=False)
    assert summary["records_written"] == 8
    names = tf.io.gfile.listdir(out)
    assert "manifest.json" in names and not any(n.startswith(".staging") for n in names)
    manifest = load_manifest(out)
    assert manifest["totals"]["examples"] == 8
    batches = list(make_dataset(out, split="train", training=False, batch_size=4, max_beats=16))
    assert sum(int(f["beats"].shape[0]) for f, _ in batches) >= manifest["splits"]["train"]["examples"]
    assert np.isfinite(batches[0][0]["beats"].numpy()).all()
    # a rerun without --overwrite is refused, naming the URI; with --overwrite it replaces the shards
    assert prepare_main(["--dataset", "cinc2017", "--data-dir", str(cinc_dir), "--out", out, "--limit", "4",
                         "--no-progress"]) == 2
    assert out in capsys.readouterr().err
    prepare("cinc2017", cinc_dir, out, limit=4, overwrite=True, progress=False)
    assert load_manifest(out)["totals"]["examples"] == 4


def test_unreachable_bucket_is_a_clear_error_naming_the_path(cinc_dir, capsys):
    out = "nosuchfs://bucket/prepared"          # a scheme TensorFlow has no filesystem for
    assert prepare_main(["--dataset", "cinc2017", "--data-dir", str(cinc_dir), "--out", out, "--limit", "2",
                         "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert out in err and "Traceback" not in err

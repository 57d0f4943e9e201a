"""prepare: real fixture records -> TFRecords -> make_dataset gives back what preprocessing made."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ecgsl_keras import tasks
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.errors import ECGSLError
from ecgsl_keras.data.prepare import assign_splits, prepare, record_to_examples
from tfrecords_tools.reader import load_manifest, make_dataset

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_prepare")

CINC_RECORDS = ["A00205", "A00386"]


@pytest.fixture(scope="module")
def cinc_prepared(tmp_path_factory, cinc_dir):
    out = tmp_path_factory.mktemp("cinc_tfr")
    summary = prepare("cinc2017", cinc_dir, out, workers=2, progress=False)
    return out, summary


def _expected_examples(cinc_dir):
    reader = open_dataset("cinc2017", cinc_dir)
    config = ExperimentConfig()
    expected = {}
    for rid in reader.record_ids():
        (example,) = record_to_examples(reader.load(rid), config, reader.task)
        expected[rid] = example
    return expected


def test_prepare_summary_and_manifest(cinc_prepared, cinc_dir):
    out, summary = cinc_prepared
    reader = open_dataset("cinc2017", cinc_dir)
    n = len(reader.record_ids())
    assert summary["records_written"] + summary["skipped"] == n
    assert set(summary["records_per_split"]) == {"train", "validation"}
    # stratified: every class present in both splits
    manifest = load_manifest(out)
    meta = manifest["metadata"]
    assert meta["label_info"]["label_names"] == list(tasks.CINC2017.label_names)
    assert ExperimentConfig().signal.from_dict(meta["signal_config"]) == ExperimentConfig().signal
    assert not list(out.glob("*.tmp"))


def test_round_trip_same_beats_rr_labels(cinc_prepared, cinc_dir):
    out, _ = cinc_prepared
    expected = _expected_examples(cinc_dir)
    seen = {}
    for split in ("train", "validation"):
        ds = make_dataset(out, split=split, training=False, batch_size=4, max_beats=512, include_meta=True)
        for features, labels in ds:
            mask = features["padding_mask"].numpy()
            for i, rid in enumerate(features["record_id"].numpy()):
                rid = rid.decode()
                ex = expected[rid]
                n = int(mask[i].sum())
                assert n == ex.n_beats
                # the padding mask marks exactly the first n (real) beats
                assert mask[i, :n].all() and not mask[i, n:].any()
                np.testing.assert_array_equal(features["beats"].numpy()[i, :n], ex.beats)
                np.testing.assert_array_equal(features["rr"].numpy()[i, :n], ex.rr)
                assert np.all(features["beats"].numpy()[i, n:] == 0)
                assert int(labels.numpy()[i]) == int(ex.label[0])
                seen[rid] = split
    assert set(seen) == set(expected)
    # each record in exactly one split, labels as in REFERENCE.csv
    reader = open_dataset("cinc2017", cinc_dir)
    for rid in seen:
        assert tasks.CINC2017.label_names[int(expected[rid].label[0])] == reader.labels_for(rid)[0]


def test_training_crops_never_exceed_max_beats(cinc_prepared):
    out, _ = cinc_prepared
    ds = make_dataset(out, split="train", training=True, batch_size=8, max_beats=16, seed=3)
    total = 0
    for features, _ in ds:
        assert features["beats"].shape[1] == 16
        assert features["padding_mask"].numpy().sum(axis=1).max() <= 16
        total += features["beats"].shape[0]
    assert total == load_manifest(out)["splits"]["train"]["examples"]


def test_refuses_non_empty_output(cinc_prepared, cinc_dir):
    out, _ = cinc_prepared
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ECGSLError, match="not empty"):
        prepare("cinc2017", cinc_dir, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.slow
def test_cli_prepare_and_verify(tmp_path, cinc_dir, capsys):
    out = tmp_path / "tfr"
    cmd = [sys.executable, "-m", "ecgsl_keras.prepare", "--dataset", "cinc2017", "--data-dir", str(cinc_dir),
           "--out", str(out), "--records", *CINC_RECORDS, "--split", "all", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["records_written"] == 2 and summary["records_per_split"] == {"train": 2}
    proc = subprocess.run([sys.executable, "-m", "tfrecords_tools", "verify", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # a second run into the same folder is refused, exit status 2 and a message naming the folder (the command's
    # main in this process: the run above has shown `python -m` reaches it; another process costs a TF import)
    from ecgsl_keras.cli import prepare as prepare_cli

    assert prepare_cli.main(cmd[3:]) == 2 and str(out) in capsys.readouterr().err


def test_mitdb_per_beat_labels_match_annotations(tmp_path, fixtures_dir):
    out = tmp_path / "mitdb"
    summary = prepare("mitdb", fixtures_dir / "mitdb", out, progress=False)
    assert summary["records_written"] == 2
    reader = open_dataset("mitdb", fixtures_dir / "mitdb")
    ds = make_dataset(out, training=False, batch_size=64, max_beats=256)
    counts = np.zeros(tasks.MITDB_AAMI.num_classes, int)
    for _, beat_labels in ds:
        labels = beat_labels.numpy()
        counts += np.bincount(labels[labels >= 0], minlength=tasks.MITDB_AAMI.num_classes)
    reference = np.zeros_like(counts)
    for rid in reader.record_ids():
        for name in reader.load(rid).beat_annotations.labels:
            reference[tasks.MITDB_AAMI.index(name)] += 1
    # every reference beat but a handful at the edges (outside a full window) or missed by the detector
    assert counts.sum() >= 0.98 * reference.sum()
    assert counts[2] >= 0.95 * reference[2]  # ventricular beats found and labelled V
    assert np.all(counts <= reference)


def test_ptbxl_folds_and_multihot(tmp_path, fixtures_dir):
    out = tmp_path / "ptbxl"
    reader = open_dataset("ptbxl", fixtures_dir / "ptbxl")
    splits = assign_splits(reader, "ptbxl", "default", 0.2, 0)
    for rid, split in splits.items():
        fold = int(reader.metadata_for(rid)["strat_fold"])
        assert split == ("test" if fold == 10 else "validation" if fold == 9 else "train")
    prepare("ptbxl", fixtures_dir / "ptbxl", out, progress=False)
    for split in load_manifest(out)["splits"]:
        ds = make_dataset(out, split=split, training=False, batch_size=8, include_meta=True)
        for features, labels in ds:
            for rid, hot in zip(features["record_id"].numpy(), labels.numpy()):
                names = [tasks.PTBXL_SUPERDIAGNOSTIC.label_names[i] for i in np.flatnonzero(hot)]
                assert tuple(names) == tuple(reader.labels_for(rid.decode()))

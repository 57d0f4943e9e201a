"""The manifest is checked, not trusted: edited label counts (they become class weights) are caught on load when
they no longer add up and by ``verify`` (which recounts the shards) when they do; a shard entry pointing outside
the folder is refused before anything is read."""
import json
import shutil

import pytest

from tfrecords_tools import TFRecordsError, load_manifest, make_dataset
from tfrecords_tools.__main__ import main as tfrecords_main


@pytest.fixture()
def data(tmp_path, cinc_sample_tfrecords):
    return shutil.copytree(cinc_sample_tfrecords, tmp_path / "data")


def _edit(folder, change):
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def _swap_train_counts(manifest, totals_too):
    """Move examples of class 0 to class 1 in the training counts (and the totals: then everything adds up)."""
    tables = [manifest["splits"]["train"]["label_counts"]["record"]["examples"]]
    if totals_too:
        tables.append(manifest["label_counts"]["record"]["examples"])
    moved = tables[0]["0"] // 2
    for table in tables:
        table["0"] -= moved
        table["1"] += moved


def test_label_counts_edited_consistently_are_caught_by_verify(data, capsys):
    counts = json.loads((data / "manifest.json").read_text())["splits"]["train"]["label_counts"]["record"]["examples"]
    assert counts["0"] > 1
    assert tfrecords_main(["verify", str(data)]) == 0
    capsys.readouterr()
    _edit(data, lambda m: _swap_train_counts(m, totals_too=True))
    load_manifest(data)   # adds up: only the shards can tell
    assert tfrecords_main(["verify", str(data)]) == 1
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert any("split 'train': label_counts" in p["problem"] and "differ from the shards'" in p["problem"]
               for p in report["problems"]), report["problems"]


def test_label_counts_that_do_not_add_up_are_refused_on_load(data):
    _edit(data, lambda m: _swap_train_counts(m, totals_too=False))
    with pytest.raises(TFRecordsError, match="inconsistent manifest .*label_counts differ from the sum") as info:
        make_dataset(data, split="train", training=True, batch_size=4)
    assert str(data / "manifest.json") in str(info.value)


@pytest.mark.parametrize("name", ["../elsewhere.tfrecord", "/etc/passwd", "sub/x.tfrecord"])
def test_shard_entry_outside_the_folder_is_refused(data, name):
    def point_outside(manifest):
        manifest["shards"][0]["file"] = name
    _edit(data, point_outside)
    with pytest.raises(TFRecordsError, match="is not a file name inside the folder"):
        make_dataset(data, split="train", training=True, batch_size=4)

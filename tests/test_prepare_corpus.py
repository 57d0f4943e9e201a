"""prepare --unlabelled: one pre-training folder from CinC 2017, MIT-BIH, PTB-XL and CinC 2021 fixtures."""
import json
from pathlib import Path

import numpy as np
import pytest

from ecgsl_keras.store import runs
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.data.datasets import open_dataset
from ecgsl_keras.errors import ConfigError, ECGSLError
from ecgsl_keras.cli.prepare import main
from ecgsl_keras.data.prepare import (_corpus_exclusions, _normalize_sources, assign_splits, parse_source_specs,
                                 prepare_corpus)
from tfrecords_tools import decode_numpy, load_manifest, make_dataset

# one xdist worker runs this module (--dist loadgroup): its module fixtures are built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_prepare_corpus")

PTBXL_LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
PTBXL_HELD_OUT = {"8": 9, "9": 10, "10": 9, "17": 9, "218": 10}   # fixture ecg_id -> strat_fold 9/10


def _sources(fixtures_dir, cinc_dir):
    return [{"dataset": "cinc2017", "data_dir": str(cinc_dir)},
            {"dataset": "mitdb", "data_dir": str(fixtures_dir / "mitdb")},
            {"dataset": "ptbxl", "data_dir": str(fixtures_dir / "ptbxl")},
            {"dataset": "wfdb", "data_dir": str(fixtures_dir / "cinc2021")}]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fixtures_dir, cinc_dir):
    out = tmp_path_factory.mktemp("corpus") / "pretrain"
    summary = prepare_corpus(_sources(fixtures_dir, cinc_dir), out, workers=2, progress=False)
    return out, summary


def _examples(out):
    import tensorflow as tf

    manifest = load_manifest(out)
    found = []
    for shard in manifest["shards"]:
        for raw in tf.data.TFRecordDataset(str(out / shard["file"])):
            found.append((shard["split"], decode_numpy(raw.numpy())))
    return found


def _cinc_validation_ids(cinc_dir):
    config = ExperimentConfig()
    splits = assign_splits(open_dataset("cinc2017", cinc_dir), "cinc2017", "default",
                           config.train.validation_fraction, config.train.seed)
    return {rid for rid, split in splits.items() if split == "validation"}


def test_sources_counts_and_manifest(corpus):
    out, summary = corpus
    manifest = load_manifest(out)
    meta = manifest["metadata"]
    assert meta["unlabelled"] is True and "label_info" not in meta
    assert set(manifest["splits"]) == {"train", "validation"}
    sources = {s["name"]: s for s in meta["corpus"]["sources"]}
    assert list(sources) == ["cinc2017", "mitdb", "ptbxl", "wfdb"]
    # CinC sample: 64 records, 13 in the standard validation split; MIT-BIH: 2 records of 5 min in
    # 60 s windows; PTB-XL: 12 records, 5 in folds 9-10, 12 leads each; CinC 2021: 6 records x 12 leads.
    expected = {"cinc2017": (64, 13, 51, 51), "mitdb": (2, 0, 2, 10), "ptbxl": (12, 5, 7, 84), "wfdb": (6, 0, 6, 72)}
    for name, (found, excluded, used, examples) in expected.items():
        s = sources[name]
        assert (s["records_found"], s["records_excluded"], s["records_used"], s["examples"]) == \
            (found, excluded, used, examples), name
        assert s["records_skipped"] == 0 and s["beats"] > 0
        assert summary["sources"][name]["examples"] == examples
        assert sum(s["records_per_split"].values()) == used
        n_val = max(1, round(0.05 * used))  # 5% of the records, at least one (CinC: 3 of 51)
        assert s["records_per_split"]["validation"] == len(s["validation_records"]) == n_val
        assert Path(s["data_dir"]).is_dir()
    assert sources["ptbxl"]["leads"] == {lead: 7 for lead in PTBXL_LEADS}
    assert len(sources["wfdb"]["leads"]) == 12 and set(sources["wfdb"]["leads"].values()) == {6}
    assert sources["mitdb"]["leads"] == {"MLII": 10}
    assert sources["ptbxl"]["excluded_by_reason"] == {"ptbxl_fold_9": 3, "ptbxl_fold_10": 2}
    assert manifest["totals"]["examples"] == summary["examples"] == 51 + 10 + 84 + 72
    assert manifest["totals"]["beats"] == summary["beats"] == sum(s["beats"] for s in sources.values())


def test_records_and_exclusions_in_the_shards(corpus, cinc_dir):
    out, _ = corpus
    examples = _examples(out)
    meta_sources = {s["name"]: s for s in load_manifest(out)["metadata"]["corpus"]["sources"]}
    ids = {ex.record_id for _, ex in examples}
    assert all(ex.label.size == 0 and ex.beat_labels.size == 0 for _, ex in examples)
    assert {ex.source for _, ex in examples} == {"cinc2017", "mitdb", "ptbxl", "wfdb"}

    # CinC 2017: exactly the training split of the standard labelled prepare, none of its validation split.
    cinc_val = _cinc_validation_ids(cinc_dir)
    assert len(cinc_val) == 13
    cinc_ids = {rid.split("/")[1] for rid in ids if rid.startswith("cinc2017/")}
    assert not cinc_ids & cinc_val
    assert cinc_ids == set(open_dataset("cinc2017", cinc_dir).record_ids()) - cinc_val
    assert set(meta_sources["cinc2017"]["excluded_records"]["cinc2017_validation_split"]) == cinc_val

    # PTB-XL: every lead its own single-lead example; folds 9 and 10 absent.
    ptbxl = [ex for _, ex in examples if ex.source == "ptbxl"]
    assert "ptbxl/00001_hr/V5" in ids
    per_record = {}
    for ex in ptbxl:
        _, name, lead = ex.record_id.split("/")
        per_record.setdefault(name, []).append(lead)
    assert len(per_record) == 7 and all(sorted(v) == sorted(PTBXL_LEADS) for v in per_record.values())
    for ecg_id in PTBXL_HELD_OUT:
        assert f"{int(ecg_id):05d}_hr" not in per_record
    assert {rid for ids_ in meta_sources["ptbxl"]["excluded_records"].values() for rid in ids_} == set(PTBXL_HELD_OUT)

    # MIT-BIH: 5 min records in 60 s windows; CinC 2021: 12 leads per record.
    starts = sorted(ex.segment_start_s for _, ex in examples if ex.record_id == "mitdb/119/MLII")
    assert len(starts) == 5 and starts[0] < 2.0 and starts[-1] >= 240.0
    assert sum(rid.startswith("wfdb/") for rid in ids) == 72

    # Every record's examples are in one split (no record in both train and validation).
    split_of = {}
    for split, ex in examples:
        key = ex.record_id.rsplit("/", 1)[0]
        assert split_of.setdefault(key, split) == split, key
    # Same preprocessing for every source: 100 Hz beats of one length.
    assert {ex.fs for _, ex in examples} == {100.0} and len({ex.beats.shape[1] for _, ex in examples}) == 1


def test_make_dataset_reads_it_for_pretraining(corpus):
    out, _ = corpus
    features, target = next(iter(make_dataset(str(out), split="train", target="beats", training=True,
                                              batch_size=8, max_beats=32)))
    assert features["beats"].shape[0] == 8 and np.allclose(target.numpy(), features["beats"].numpy())
    beats, same = next(iter(make_dataset(str(out), split="validation", mode="beat", batch_size=16)))
    assert beats.shape == (16, 96) and np.array_equal(beats.numpy(), same.numpy())


@pytest.mark.parametrize("stage", ["supervised", "finetune"])
def test_finetune_and_supervised_refuse_unlabelled_corpus(corpus, tmp_path, stage):
    from ecgsl_keras.training import trainer as train

    out, _ = corpus
    init_from = None
    if stage == "finetune":  # a run folder to start from: only its config.json is read before the check
        init_from = tmp_path / "ae"
        init_from.mkdir()
        runs.write_json(init_from / runs.CONFIG_NAME, {"experiment_config": ExperimentConfig().to_dict(),
                                                       "task": None, "stage": "autoencoder"})
    with pytest.raises(ConfigError, match=f"stage '{stage}' needs labelled data.*no labels.*--stage autoencoder"):
        train.train(stage, out, tmp_path / "run", init_from=init_from, strategy="onedevice", epochs=1)
    assert not (tmp_path / "run").exists()


def test_bad_source_folders_fail_clearly_and_keep_the_old_folder(corpus, fixtures_dir, cinc_dir, tmp_path):
    out, _ = corpus
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    missing = tmp_path / "no_such_mitdb"
    sources = _sources(fixtures_dir, cinc_dir)
    sources[1]["data_dir"] = str(missing)
    with pytest.raises(ECGSLError, match=f"source 'mitdb' \\(mitdb, {missing}\\).*data folder not found"):
        prepare_corpus(sources, out, overwrite=True, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ECGSLError, match=f"source 'wfdb' \\(wfdb, {empty}\\): no records found"):
        prepare_corpus([{"dataset": "wfdb", "data_dir": str(empty)}], out, overwrite=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(ECGSLError, match="not empty"):
        prepare_corpus(sources[:1], out, progress=False)


def test_cli_corpus_file_and_flags(tmp_path, fixtures_dir, capsys):
    corpus_file = tmp_path / "corpus.json"
    corpus_file.write_text(json.dumps({"window_s": 120, "sources": [
        {"dataset": "mitdb", "data_dir": str(fixtures_dir / "mitdb")},
        {"dataset": "ptbxl", "data_dir": str(fixtures_dir / "ptbxl"), "options": {"rate": 100}},
        {"name": "cinc2021", "dataset": "wfdb", "data_dir": str(fixtures_dir / "cinc2021"), "options": {"lead": "II"}},
    ]}))
    assert main(["--corpus", str(corpus_file), "--out", str(tmp_path / "out"), "--limit", "2", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["unlabelled"] and list(summary["sources"]) == ["mitdb", "ptbxl", "cinc2021"]
    # 2 records each: MIT-BIH 5 min in 120 s windows (+ a 60 s tail), PTB-XL 12 leads, CinC 2021 lead II only.
    assert {n: s["examples"] for n, s in summary["sources"].items()} == {"mitdb": 6, "ptbxl": 24, "cinc2021": 2}
    meta = load_manifest(tmp_path / "out")["metadata"]["corpus"]
    assert [s["reader_options"].get("rate") for s in meta["sources"]][1] == 100

    with pytest.raises(ConfigError, match="NAME=PATH"):
        parse_source_specs(["mitdb", "ptbxl"], [str(fixtures_dir / "mitdb")])
    with pytest.raises(ConfigError, match="no folder for \\['ptbxl'\\]"):
        parse_source_specs(["mitdb", "ptbxl"], [f"mitdb={fixtures_dir / 'mitdb'}"])
    assert parse_source_specs(["mitdb"], ["X"]) == [{"dataset": "mitdb", "data_dir": "X"}]
    assert main(["--dataset", "mitdb,ptbxl", "--data-dir", f"mitdb={fixtures_dir / 'mitdb'}",
                 f"ptbxl={tmp_path / 'nope'}", "--unlabelled", "--out", str(tmp_path / "o2")]) == 2
    assert "source 'ptbxl'" in capsys.readouterr().err and not (tmp_path / "o2").exists()
    with pytest.raises(SystemExit):  # several data sets need --unlabelled
        main(["--dataset", "mitdb,ptbxl", "--data-dir", "a", "--out", str(tmp_path / "o3")])


def test_cinc2021_ptbxl_records_of_held_out_folds_are_excluded(fixtures_dir):
    # CinC 2021 HRnnnnn records are PTB-XL ecg_id nnnnn: left out when the corpus' PTB-XL lists them in fold 9/10.
    (source,) = _normalize_sources([{"dataset": "wfdb", "data_dir": str(fixtures_dir / "cinc2021")}], 60.0)
    reader = open_dataset("wfdb", source["data_dir"], **source["options"])
    excluded = _corpus_exclusions(source, reader, reader.record_ids(), ExperimentConfig(), {6000: 10, 6001: 3})
    assert excluded == {"HR06000": "ptbxl_fold_10"}

"""tfrecords_tools: writer, tf.data reader and CLI, on beat sequences cut from real CinC 2017 records.

The beat sequences are built here with wfdb and neurokit2 (fixed windows around the R-peaks), so
these tests do not depend on ecgsl_keras's own signal code.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfrecords_tools import (IGNORE_LABEL, MANIFEST_NAME, SCHEMA_VERSION, BeatSequence, ShardedWriter,  # noqa: E402
                             TFRecordsError, count_examples, dataset_spec, decode_numpy, encode, input_fn_for_strategy,
                             list_shards, load_manifest, make_dataset, read_examples, write_examples)
from tfrecords_tools.__main__ import main as cli_main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CINC_SAMPLE = REPO / "ecgsl_keras" / "data" / "cinc2017_sample"
LABEL_NAMES = ["N", "A", "O", "~"]
N_RECORDS = 10
FS_OUT = 100            # beats are cut at 300 Hz and kept every third sample
BEAT_LEN = 96
R_OFFSET = 32


# --- real beat sequences -------------------------------------------------------------------------------

def _records(folder: Path):
    reference = folder / "REFERENCE.csv"
    with open(reference, newline="") as fh:
        rows = [(r[0], r[1]) for r in csv.reader(fh) if r]
    rows = [(rid, lab) for rid, lab in rows if (folder / f"{rid}.hea").is_file()]
    # a few of every class first, so that every label appears
    by_label = {}
    for rid, lab in rows:
        by_label.setdefault(lab, []).append((rid, lab))
    picked = []
    while len(picked) < min(N_RECORDS, len(rows)):
        for lab in LABEL_NAMES:
            if by_label.get(lab) and len(picked) < N_RECORDS:
                picked.append(by_label[lab].pop(0))
    return picked


def _beat_sequence(folder: Path, record_id: str, label: str) -> BeatSequence:
    import neurokit2 as nk
    import wfdb

    record = wfdb.rdrecord(str(folder / record_id))
    fs = int(record.fs)
    step = fs // FS_OUT
    signal = nk.ecg_clean(record.p_signal[:, 0], sampling_rate=fs)
    _, info = nk.ecg_peaks(signal, sampling_rate=fs)
    peaks = np.asarray(info["ECG_R_Peaks"], np.int64)
    before, after = R_OFFSET * step, (BEAT_LEN - R_OFFSET) * step
    peaks = peaks[(peaks >= before) & (peaks + after <= len(signal))]
    if len(peaks) < 3:
        return None  # a noisy record without usable beats
    beats = np.stack([signal[p - before:p + after:step] for p in peaks])
    median = np.median(signal)
    iqr = np.subtract(*np.percentile(signal, [75, 25])) or 1.0
    beats = (beats - median) / iqr
    rr = np.diff(peaks) / fs
    prev_rr = np.concatenate([rr[:1], rr])
    next_rr = np.concatenate([rr, rr[-1:]])
    local = np.array([prev_rr[max(0, i - 4):i + 5].mean() for i in range(len(prev_rr))])  # 9-beat local mean
    return BeatSequence(record_id=record_id, source="cinc2017", beats=beats, rr=np.stack([prev_rr, next_rr, local], 1),
                        rpeaks=peaks // step, fs=float(FS_OUT), label=[LABEL_NAMES.index(label)])


@pytest.fixture(scope="session")
def sequences():
    seqs = [_beat_sequence(CINC_SAMPLE, rid, lab) for rid, lab in _records(CINC_SAMPLE)]
    return [s for s in seqs if s is not None]


def _splits(seqs):
    return {s.record_id: ("train", "validation", "test")[i % 3] for i, s in enumerate(seqs)}


CINC_META = {"label_info": {"kind": "multiclass", "label_names": LABEL_NAMES, "task": {"name": "cinc2017"}},
             "signal_config": {"target_fs": FS_OUT, "beat_len": BEAT_LEN}}


def _write(seqs, out_dir, metadata=CINC_META, **kw):
    splits = _splits(seqs)
    kw.setdefault("max_examples_per_shard", 2)
    return write_examples(((splits[s.record_id], s) for s in seqs), out_dir, metadata=metadata, prefix="cinc",
                          progress=False, **kw)


@pytest.fixture(scope="session")
def written(sequences, tmp_path_factory):
    out = tmp_path_factory.mktemp("cinc") / "shards"
    manifest = _write(sequences, out)
    return out, manifest


def _by_id(seqs):
    return {s.record_id: s for s in seqs}


def _collect(ds):
    """Materialise (features, targets) batches as unbatched numpy rows."""
    rows = []
    for features, targets in ds:
        f = {k: v.numpy() for k, v in features.items()}
        t = targets.numpy()
        for i in range(t.shape[0]):
            rows.append(({k: v[i] for k, v in f.items()}, t[i]))
    return rows


# --- writer and manifest -----------------------------------------------------------------------------

def test_manifest_counts_and_checksums(written, sequences):
    out, manifest = written
    assert load_manifest(out) == manifest
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["compression"] is None
    assert manifest["metadata"] == CINC_META
    assert (manifest["beat_len"], manifest["n_rr"], manifest["label_widths"]) == (BEAT_LEN, 3, [1])
    splits = _splits(sequences)
    for split in ("train", "validation", "test"):
        mine = [s for s in sequences if splits[s.record_id] == split]
        info = manifest["splits"][split]
        assert info["examples"] == len(mine) == count_examples(out, split)
        assert info["beats"] == sum(s.n_beats for s in mine)
        expected = {}
        for s in mine:
            expected[str(int(s.label[0]))] = expected.get(str(int(s.label[0])), 0) + 1
        assert info["label_counts"]["record"]["examples"] == dict(sorted(expected.items()))
    assert manifest["totals"]["examples"] == len(sequences)
    assert manifest["totals"]["beats"] == sum(s.n_beats for s in sequences)
    assert manifest["label_counts"]["record"]["beats"]["0"] == sum(s.n_beats for s in sequences if s.label[0] == 0)
    import hashlib
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([MANIFEST_NAME] + [s["file"] for s in manifest["shards"]])
    for shard in manifest["shards"]:
        data = (out / shard["file"]).read_bytes()
        assert shard["file"].startswith(f"cinc-{shard['split']}-") and shard["file"].endswith(".tfrecord")
        assert shard["bytes"] == len(data) and shard["sha256"] == hashlib.sha256(data).hexdigest()
        assert 1 <= shard["examples"] <= 2
    assert not list(out.glob("*.tmp")) and not list(out.glob(".staging-*"))


def test_round_trip_exact(written, sequences):
    out, _ = written
    originals = _by_id(sequences)
    longest = max(s.n_beats for s in sequences)
    ds = make_dataset(out, batch_size=3, max_beats=longest, include_meta=True, length_aware=False)
    assert ds.element_spec[0]["beats"].shape.as_list() == [None, longest, BEAT_LEN]
    assert ds.element_spec[0]["rr"].shape.as_list() == [None, longest, 3]
    rows = _collect(ds)
    assert sorted(f["record_id"].decode() for f, _ in rows) == sorted(originals)
    for features, label in rows:
        original = originals[features["record_id"].decode()]
        n = original.n_beats
        np.testing.assert_array_equal(features["padding_mask"], np.arange(longest) < n)
        np.testing.assert_array_equal(features["beats"][:n], original.beats)   # float32 exact
        np.testing.assert_array_equal(features["rr"][:n], original.rr)
        assert not features["beats"][n:].any() and not features["rr"][n:].any()
        assert label.dtype == np.int32 and label == original.label[0]
    # the schema's numpy decoder gives back every field
    for path in list_shards(out):
        for raw in tf.data.TFRecordDataset(path):
            back = decode_numpy(raw.numpy())
            original = originals[back.record_id]
            np.testing.assert_array_equal(back.rpeaks, original.rpeaks)
            assert (back.fs, back.source, back.label.tolist()) == (original.fs, "cinc2017", original.label.tolist())
    # read_examples: the same examples, decoded, in the shards' file order (all splits, or one)
    decoded = [decode_numpy(raw.numpy()) for path in list_shards(out) for raw in tf.data.TFRecordDataset(path)]
    read = list(read_examples(out))
    assert [e.record_id for e in read] == [e.record_id for e in decoded]
    assert all(np.array_equal(a.beats, b.beats) and np.array_equal(a.rr, b.rr) for a, b in zip(read, decoded))
    assert {e.record_id for e in read_examples(out, "validation")} < {e.record_id for e in read}


def test_training_crops_are_contiguous_and_seeded(written, sequences):
    out, _ = written
    originals = _by_id(sequences)
    max_beats = 16
    assert any(s.n_beats > 2 * max_beats for s in sequences)

    def crops(seed):
        ds = make_dataset(out, training=True, batch_size=4, max_beats=max_beats, seed=seed, include_meta=True)
        epochs = []
        for _ in range(2):
            epoch = {}
            for features, _ in _collect(ds):
                original = originals[features["record_id"].decode()]
                start, n = int(features["window_start"]), int(features["padding_mask"].sum())
                assert n == min(original.n_beats, max_beats)
                np.testing.assert_array_equal(features["padding_mask"], np.arange(max_beats) < n)
                assert 0 <= start <= original.n_beats - n
                np.testing.assert_array_equal(features["beats"][:n], original.beats[start:start + n])
                np.testing.assert_array_equal(features["rr"][:n], original.rr[start:start + n])
                epoch[original.record_id] = start
            assert set(epoch) == set(originals)
            epochs.append(epoch)
        return epochs

    first, again = crops(7), crops(7)
    assert first == again                                   # seeded: reproducible
    assert first[0] != first[1]                             # a new crop every epoch


def test_record_fraction_keeps_the_same_records_whatever_the_seed(written, sequences):
    out, _ = written

    def kept(fraction, seed, training=True):
        ds = make_dataset(out, training=training, batch_size=8, max_beats=16, seed=seed, include_meta=True,
                          record_fraction=fraction)
        return {features["record_id"].decode() for features, _ in _collect(ds)}

    everything = {s.record_id for s in sequences}
    half = kept(0.5, seed=1)
    assert half == kept(0.5, seed=2) == kept(0.5, seed=None, training=False)
    assert 0 < len(half) < len(everything) and half <= everything
    assert kept(0.25, seed=1) <= half                       # nested: a smaller fraction keeps a subset
    assert kept(1.0, seed=1) == everything
    with pytest.raises(ValueError, match="record_fraction"):
        make_dataset(out, record_fraction=0.0)


def test_eval_windows_cover_every_beat(written, sequences):
    out, _ = written
    originals = _by_id(sequences)
    max_beats, stride = 16, 10
    ds = make_dataset(out, batch_size=8, max_beats=max_beats, eval_stride=stride, include_meta=True)
    covered = {rid: np.zeros(s.n_beats, bool) for rid, s in originals.items()}
    starts = {rid: [] for rid in originals}
    for features, label in _collect(ds):
        original = originals[features["record_id"].decode()]
        start, n = int(features["window_start"]), int(features["padding_mask"].sum())
        assert n == min(original.n_beats, max_beats) and label == original.label[0]
        np.testing.assert_array_equal(features["beats"][:n], original.beats[start:start + n])
        covered[original.record_id][start:start + n] = True
        starts[original.record_id].append(start)
    for rid, s in originals.items():
        assert covered[rid].all()
        last = max(s.n_beats - max_beats, 0)
        assert sorted(starts[rid]) == sorted(set(list(range(0, last, stride)) + [last]))
    # evaluation order is deterministic, and the same through an in-memory cache
    order = [(f["record_id"], f["window_start"]) for f, _ in _collect(ds)]
    assert order == [(f["record_id"], f["window_start"]) for f, _ in _collect(ds)]
    cached = make_dataset(out, batch_size=8, max_beats=max_beats, eval_stride=stride, include_meta=True, cache=True)
    for _ in range(2):
        assert order == [(f["record_id"], f["window_start"]) for f, _ in _collect(cached)]
    # the default stride is max_beats: windows overlap only to reach the last beat
    plain = make_dataset(out, batch_size=8, max_beats=max_beats, include_meta=True)
    n_windows = sum(len(range(0, max(s.n_beats - max_beats, 0), max_beats)) + 1 for s in sequences)
    assert len(_collect(plain)) == n_windows


def test_label_kinds(sequences, tmp_path):
    seqs = sequences[:6]
    originals = _by_id(seqs)
    n_classes = len(LABEL_NAMES)

    def relabel(s, **kw):
        values = dict(record_id=s.record_id, beats=s.beats, rr=s.rr, rpeaks=s.rpeaks, fs=s.fs, source=s.source)
        values.update(kw)
        return BeatSequence(**values)

    # multi-label: the rhythm class plus "long record" (class 3) when over 40 beats
    multi = [relabel(s, label=np.eye(n_classes, dtype=np.int64)[s.label[0]] | (np.arange(n_classes) == 3) * (s.n_beats > 40))
             for s in seqs]
    binary = [relabel(s, label=[int(s.label[0] == 1)]) for s in seqs]
    # per beat: 1 = beat after a short RR (< 0.7 s), 0 otherwise, first beat unlabelled
    per_beat = []
    for s in seqs:
        labels = (s.rr[:, 0] < 0.7).astype(np.int64)
        labels[0] = IGNORE_LABEL
        per_beat.append(relabel(s, beat_labels=labels))
    cases = {"multilabel": multi, "binary": binary, "per_beat": per_beat}
    for kind, examples in cases.items():
        meta = {"label_info": {"kind": kind, "label_names": LABEL_NAMES if kind != "binary" else ["no", "yes"]}}
        out = tmp_path / kind
        manifest = _write(examples, out, metadata=meta)
        ds = make_dataset(out, batch_size=4, max_beats=200, include_meta=True, length_aware=False)
        by_id = _by_id(examples)
        for features, target in _collect(ds):
            ex = by_id[features["record_id"].decode()]
            if kind == "multilabel":
                assert target.dtype == np.float32 and target.shape == (n_classes,)
                np.testing.assert_array_equal(target, ex.label.astype(np.float32))
            elif kind == "binary":
                assert target.dtype == np.float32 and target.shape == (1,) and target[0] == ex.label[0]
            else:
                assert target.dtype == np.int32 and target.shape == (200,)
                np.testing.assert_array_equal(target[:ex.n_beats], ex.beat_labels)
                assert (target[ex.n_beats:] == IGNORE_LABEL).all()
        if kind == "multilabel":
            positives = np.sum([e.label for e in examples], axis=0)
            assert manifest["label_counts"]["record"]["examples"] == {str(i): int(c) for i, c in enumerate(positives) if c}
        if kind == "per_beat":
            counts = manifest["label_counts"]["beat"]["beats"]
            assert counts["-1"] == len(examples)
            assert counts["1"] == sum(int((e.beat_labels == 1).sum()) for e in examples)
            # per-beat targets follow training crops
            for features, target in _collect(make_dataset(out, training=True, batch_size=4, max_beats=16, seed=1,
                                                          include_meta=True)):
                ex = by_id[features["record_id"].decode()]
                start, n = int(features["window_start"]), int(features["padding_mask"].sum())
                np.testing.assert_array_equal(target[:n], ex.beat_labels[start:start + n])
                assert (target[n:] == IGNORE_LABEL).all()
    assert dataset_spec(tmp_path / "multilabel")["num_classes"] == n_classes
    # a kind that does not fit the stored labels is refused with the manifest named
    with pytest.raises(TFRecordsError, match=MANIFEST_NAME):
        make_dataset(tmp_path / "binary", label_kind="multilabel")
    # targets "beats" and "none"
    out = tmp_path / "binary"
    features, target = next(iter(make_dataset(out, target="beats", batch_size=2, max_beats=32)))
    np.testing.assert_array_equal(target.numpy(), features["beats"].numpy())
    features = next(iter(make_dataset(out, target="none", batch_size=2, max_beats=32)))
    assert set(features) == {"beats", "rr", "padding_mask"}
    assert originals  # the original multiclass labels were replaced, not lost


def test_unlabelled_data_without_rr_features(sequences, tmp_path):
    # no label and no RR features: zero-size tensors all along the pipeline (windows included)
    out = tmp_path / "unlabelled"
    with ShardedWriter(out) as writer:  # serialised examples, as worker processes hand them over
        for s in sequences[:3]:
            writer.write_serialized(encode(BeatSequence(s.record_id, s.beats, [], s.rpeaks, s.fs)))
        manifest = writer.finalize({})
    assert manifest["splits"]["all"]["beats"] == sum(s.n_beats for s in sequences[:3])
    assert manifest["label_widths"] == [0] and manifest["label_counts"]["record"]["examples"] == {}
    assert manifest["n_rr"] == 0
    with pytest.raises(TFRecordsError, match="unlabelled"):
        make_dataset(out)
    rows = _collect(make_dataset(out, target="beats", max_beats=16, batch_size=4))
    assert len(rows) == sum(len(range(0, s.n_beats - 16, 16)) + 1 for s in sequences[:3])
    features, target = rows[0]
    assert target.shape == (16, BEAT_LEN) and features["rr"].shape == (16, 0)
    # a writer that wrote nothing leaves a manifest without shards, which the reader refuses
    with ShardedWriter(tmp_path / "nothing") as writer:
        pass
    assert writer.manifest["totals"]["examples"] == 0
    with pytest.raises(TFRecordsError, match="lists no shards"):
        list_shards(tmp_path / "nothing")


def test_beat_mode(written, sequences):
    out, manifest = written
    ds = make_dataset(out, mode="beat", batch_size=64)
    assert ds.element_spec[0].shape.as_list() == [None, BEAT_LEN]
    beats = []
    for x, y in ds:
        np.testing.assert_array_equal(x.numpy(), y.numpy())
        beats.append(x.numpy())
    beats = np.concatenate(beats)
    expected = np.concatenate([s.beats for s in sequences])
    assert beats.shape == expected.shape == (manifest["totals"]["beats"], BEAT_LEN)
    key = lambda a: sorted(row.tobytes() for row in a)  # noqa: E731
    assert key(beats) == key(expected)
    shuffled = np.concatenate([x.numpy() for x, _ in make_dataset(out, mode="beat", training=True, batch_size=64,
                                                                  seed=3)])
    assert key(shuffled) == key(expected) and not np.array_equal(shuffled, beats)


def test_gzip_round_trip(sequences, tmp_path):
    out = tmp_path / "gz"
    manifest = _write(sequences[:5], out, compression="GZIP", max_examples_per_shard=None, shard_size_bytes=200_000)
    assert manifest["compression"] == "GZIP" and len(manifest["shards"]) >= 3
    for shard in manifest["shards"]:
        assert shard["file"].endswith(".tfrecord.gz")
        assert (out / shard["file"]).read_bytes()[:2] == b"\x1f\x8b"
    originals = _by_id(sequences[:5])
    for features, label in _collect(make_dataset(out, batch_size=2, max_beats=200, include_meta=True)):
        original = originals[features["record_id"].decode()]
        np.testing.assert_array_equal(features["beats"][:original.n_beats], original.beats)
    uncompressed = _write(sequences[:5], tmp_path / "plain", max_examples_per_shard=None, shard_size_bytes=200_000)
    assert manifest["totals"]["bytes"] < uncompressed["totals"]["bytes"]
    assert cli_main(["verify", str(out)]) == 0


def test_exception_inside_with_leaves_nothing(sequences, tmp_path):
    out = tmp_path / "failed"
    with pytest.raises(RuntimeError, match="boom"):
        with ShardedWriter(out, max_examples_per_shard=2) as writer:
            for s in sequences[:3]:
                writer.write(s, split="train")
            assert list(out.rglob("*.tfrecord"))       # complete shards exist while writing ...
            assert list(out.rglob("*.tmp"))            # ... and one still open
            raise RuntimeError("boom")
    assert not out.exists() or not any(out.rglob("*"))  # no manifest, no .tmp, no shard


def test_overwrite(written, sequences, tmp_path):
    src, manifest = written
    out = tmp_path / "ds"
    shutil.copytree(src, out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(TFRecordsError, match=str(out)):
        ShardedWriter(out).open()
    # a failure while overwriting keeps the old data set exactly
    with pytest.raises(RuntimeError):
        with ShardedWriter(out, prefix="cinc", overwrite=True, max_examples_per_shard=1) as writer:
            writer.write(sequences[0], split="train")
            raise RuntimeError("disk full")
    assert load_manifest(out) == manifest and cli_main(["verify", str(out)]) == 0
    # a finished overwrite replaces old shards and manifest, keeps unrelated files
    new = _write(sequences[:2], out, overwrite=True, max_examples_per_shard=None)
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", MANIFEST_NAME] +
                                                           [s["file"] for s in new["shards"]])
    assert load_manifest(out)["totals"]["examples"] == 2


def test_writer_refuses_mixed_beat_lengths(sequences, tmp_path):
    s = sequences[0]
    short = BeatSequence(s.record_id + "_short", s.beats[:, :80], s.rr, s.rpeaks, s.fs)
    with pytest.raises(TFRecordsError, match="beat_len 80"):
        with ShardedWriter(tmp_path / "mixed") as writer:
            writer.write(s)
            writer.write(short)
    assert not (tmp_path / "mixed").exists()


def test_input_context_sharding(written, sequences):
    out, manifest = written
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2)
        ds = make_dataset(out, batch_size=4, max_beats=256, input_context=context, include_meta=True)
        seen.append({f["record_id"].decode() for f, _ in _collect(ds)})
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert seen[0] | seen[1] == {s.record_id for s in sequences}
    # the strategy helper turns the global batch into a per-replica batch
    fn = input_fn_for_strategy(out, global_batch_size=8, max_beats=64)
    ds = fn(tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=4))
    assert max(f["beats"].shape[0] for f, _ in ds) == 2
    # one shard for more pipelines than shards is refused
    with pytest.raises(TFRecordsError, match="input pipelines"):
        make_dataset(out, split="test", input_context=tf.distribute.InputContext(num_input_pipelines=8))


@pytest.mark.filterwarnings("ignore:Your input ran out of data")  # Keras 3, any dataset of unknown length
def test_keras_model_builds_from_element_spec(written):
    import keras

    out, _ = written
    ds = make_dataset(out, split="train", training=True, batch_size=2, max_beats=32, seed=0)
    spec, _ = ds.element_spec
    beats = keras.Input(shape=spec["beats"].shape[1:], name="beats")
    mask = keras.Input(shape=spec["padding_mask"].shape[1:], dtype="bool", name="padding_mask")
    rr = keras.Input(shape=spec["rr"].shape[1:], name="rr")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Dense(4)(beats), mask=mask)
    model = keras.Model({"beats": beats, "rr": rr, "padding_mask": mask}, keras.layers.Dense(4)(pooled))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])


# --- verify / inspect CLI and read errors ---------------------------------------------------------------

def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_verify_catches_flipped_byte(written, tmp_path, capsys):
    out = _copy(written[0], tmp_path / "flip")
    assert cli_main(["verify", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ok"] and report["examples"] == written[1]["totals"]["examples"]
    victim = written[1]["shards"][1]["file"]
    data = bytearray((out / victim).read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / victim).write_bytes(bytes(data))
    assert cli_main(["verify", str(out)]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert not report["ok"] and {p["file"] for p in report["problems"]} == {victim}
    assert victim in captured.err and "SHA-256" in captured.err


def test_verify_catches_short_missing_and_extra_shards(written, tmp_path, capsys):
    shards = written[1]["shards"]
    out = _copy(written[0], tmp_path / "short")
    victim = out / shards[0]["file"]
    victim.write_bytes(victim.read_bytes()[:-100])
    (out / shards[2]["file"]).unlink()
    shutil.copy(out / shards[3]["file"], out / "cinc-train-00099.tfrecord")
    assert cli_main(["verify", str(out)]) == 1
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    problems = {}
    for p in report["problems"]:
        problems.setdefault(p["file"], []).append(p["problem"])
    assert set(problems) == {shards[0]["file"], shards[2]["file"], "cinc-train-00099.tfrecord"}
    assert any("size" in p for p in problems[shards[0]["file"]])
    assert any("unreadable" in p or "examples" in p for p in problems[shards[0]["file"]])
    assert problems[shards[2]["file"]] == ["listed in manifest.json but missing"]


def test_read_examples_names_a_corrupt_shard(written, tmp_path):
    out = _copy(written[0], tmp_path / "corrupt")
    victim = written[1]["shards"][0]["file"]
    data = bytearray((out / victim).read_bytes())
    data[len(data) // 2] ^= 0x01                     # same size: the manifest check passes, the record's CRC fails
    (out / victim).write_bytes(bytes(data))
    with pytest.raises(TFRecordsError, match=f"{victim}: cannot be read"):
        list(read_examples(out))


def test_truncated_shard_fails_on_read(written, tmp_path):
    out = _copy(written[0], tmp_path / "trunc")
    victim = out / written[1]["shards"][0]["file"]
    victim.write_bytes(victim.read_bytes()[:-50])
    with pytest.raises(TFRecordsError, match=victim.name):
        make_dataset(out)
    # without a manifest the TFRecord reader itself detects the cut
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(victim, bare / victim.name)
    with pytest.raises(tf.errors.DataLossError):
        for _ in make_dataset(str(bare / "*.tfrecord"), label_kind="multiclass"):
            pass


def test_bad_manifests_and_empty_inputs(written, tmp_path):
    out = _copy(written[0], tmp_path / "v2")
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["schema_version"] = SCHEMA_VERSION + 1
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    for call in (load_manifest, make_dataset, list_shards):
        with pytest.raises(TFRecordsError, match=f"{MANIFEST_NAME}.*schema version {SCHEMA_VERSION + 1}"):
            call(out)
    (out / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(TFRecordsError, match="not valid JSON"):
        load_manifest(out)
    empty = tmp_path / "empty"
    empty.mkdir()
    for call in (list_shards, make_dataset, load_manifest):
        with pytest.raises(TFRecordsError, match=f"{empty}.*empty"):
            call(empty)
    pattern = str(tmp_path / "nothing-*.tfrecord")
    with pytest.raises(TFRecordsError, match="pattern matches no file") as info:
        make_dataset(pattern)
    assert info.value.path == pattern
    with pytest.raises(TFRecordsError, match="no shards of split 'holdout'"):
        list_shards(written[0], split="holdout")
    # a pattern reads the shards it matches, with the folder's manifest ...
    files = list_shards(str(written[0] / "cinc-test-*.tfrecord"))
    assert files == list_shards(written[0], split="test")
    # ... or without one, counting by reading
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in files:
        shutil.copy(f, bare)
    assert count_examples(str(bare / "*.tfrecord")) == written[1]["splits"]["test"]["examples"]
    with pytest.raises(TFRecordsError, match="no shards of split"):
        list_shards(str(bare / "*.tfrecord"), split="train")


@pytest.mark.slow
def test_inspect_cli(written, sequences, capsys):
    # the command's main in this process (`python -m tfrecords_tools` reaches it: tests/test_prepare.py runs its
    # verify command so; another process costs a TensorFlow import)
    out, manifest = written
    assert cli_main(["inspect", str(out), "--examples", "2"]) == 0
    result = capsys.readouterr()
    report = json.loads(result.out.strip().splitlines()[-1])
    counts = [s.n_beats for s in sequences]
    assert report["beats_per_example"] == {"min": min(counts), "median": float(np.median(counts)), "max": max(counts)}
    names = {LABEL_NAMES[int(s.label[0])] for s in sequences}
    assert set(report["label_distribution"]["record"]["examples"]) == names
    assert sum(report["label_distribution"]["record"]["examples"].values()) == len(sequences)
    assert len(report["examples"]) == 2 and report["examples"][0]["label_names"][0] in LABEL_NAMES
    assert "train" in result.err and "beats/ex" in result.err


def test_examples_serialise_in_one_canonical_byte_order(sequences):
    """Identical examples give identical bytes in every process (the feature map in sorted key order), so
    identical prepare runs write shards with identical SHA-256."""
    import tensorflow as tf

    data = encode(sequences[0])
    assert data == tf.train.Example.FromString(data).SerializeToString(deterministic=True)


def test_manifest_is_written_readable_by_everyone(tmp_path):
    """write_json_atomic goes through mkstemp (0600): the manifest gets 0666 less the umask, like the shards."""
    import stat

    from tfrecords_tools.manifest import write_json_atomic

    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "manifest.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode) == 0o644
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"a": 1}

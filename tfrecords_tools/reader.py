"""Read sharded beat-sequence TFRecords as a ``tf.data.Dataset`` for Keras.

    ds = make_dataset("out/cinc2017", split="train", training=True, batch_size=32, seed=0)
    features, labels = next(iter(ds))
    # features["beats"] (32, T, 96) float32, features["rr"] (32, T, 3) float32,
    # features["padding_mask"] (32, T) bool (True on real beats), labels (32,) int32,
    # T the longest sequence of the batch (<= max_beats=128); length_aware=False: T = 128

The pipeline follows the TensorFlow data performance guide: list the shards, shard the *file list*
per input pipeline (``tf.distribute.InputContext``), shuffle files in training, interleave
``TFRecordDataset`` readers, parse in parallel, optionally cache, shuffle examples, crop or window
the sequences, pad and batch (by default each batch to its longest sequence, grouping sequences of
similar length in training; ``length_aware=False``: every batch to ``max_beats``) and prefetch.

Sequences longer than ``max_beats``: in training one random contiguous crop per example per epoch
(seeded); in evaluation deterministic windows of ``max_beats`` beats every ``eval_stride`` beats,
the last one ending at the last beat, so that the windows cover every beat. Each window is one
element carrying its ``record_id`` (``include_meta=True``) so predictions can be averaged per record.

``data`` is a folder written by ``tfrecords_tools.writer`` (its ``manifest.json`` is required), a
glob pattern of shard files, or a list of shard files; for patterns and lists the manifest of their
folder is used when there is one (shapes, label kind, byte sizes), else ``label_kind`` and, for
multi-label data, ``num_classes`` must be given.
"""
from __future__ import annotations

import os

from tfrecords_tools import fs
from tfrecords_tools import manifest as manifest_lib
from tfrecords_tools.errors import TFRecordsError
from tfrecords_tools.manifest import label_info, load_manifest
from tfrecords_tools.schema import IGNORE_LABEL, MANIFEST_NAME, SCHEMA_VERSION, decode_numpy, parse

MODES = ("sequence", "beat")
TARGETS = ("label", "beats", "none")
LENGTH_AWARE = (True, False, "pad", "bucket", "sort")   # make_dataset length_aware settings
LABEL_KINDS = ("multiclass", "multilabel", "binary", "per_beat")

__all__ = ["load_manifest", "list_shards", "make_dataset", "read_examples", "count_examples", "input_fn_for_strategy",
           "dataset_spec", "bucket_boundaries", "MODES", "TARGETS", "LABEL_KINDS"]


# --- files -------------------------------------------------------------------------------------------

def _resolve(data, split=None):
    """Shard paths of ``data`` (filtered by ``split``), the manifest or None, and its path or None."""
    if isinstance(data, (list, tuple)):
        if not data:
            raise TFRecordsError("<empty list>", "no shard files given")
        files = [os.fspath(f) for f in data]
        for f in files:
            if not fs.exists(f) or fs.isdir(f):
                raise TFRecordsError(f, "shard file does not exist")
        source = files[0]
    else:
        source = os.fspath(data)
        is_dir = fs.isdir(source)
        if is_dir or (fs.basename(source) == MANIFEST_NAME and fs.exists(source)):
            folder = source if is_dir else fs.dirname(source)
            manifest = load_manifest(folder)
            mpath = fs.join(folder, MANIFEST_NAME)
            entries = [s for s in manifest["shards"] if split is None or s["split"] == split]
            if not entries:
                if not manifest["shards"]:
                    raise TFRecordsError(mpath, "the manifest lists no shards (no examples were written)")
                raise TFRecordsError(mpath, f"no shards of split {split!r}; splits here: "
                                            f"{sorted(manifest.get('splits', {}))}")
            files = []
            for entry in entries:
                shard_path = fs.join(folder, entry["file"])
                if not fs.exists(shard_path):
                    raise TFRecordsError(shard_path, "listed in manifest.json but missing")
                files.append(shard_path)
            return files, manifest, mpath
        if not fs.has_magic(source):
            raise TFRecordsError(source, "no such folder or shard file")
        files = sorted(f for f in fs.glob(source) if not fs.isdir(f))
        if not files:
            raise TFRecordsError(source, "pattern matches no file")
    manifest, mpath = None, None
    folders = {fs.dirname(f if fs.is_remote(f) else os.path.abspath(f)) for f in files}
    if len(folders) == 1:
        candidate = fs.join(folders.pop(), MANIFEST_NAME)
        if fs.exists(candidate):
            manifest, mpath = load_manifest(fs.dirname(candidate)), candidate
    if split is not None:
        by_name = {s["file"]: s["split"] for s in manifest["shards"]} if manifest else {}
        files = [f for f in files
                 if by_name.get(os.path.basename(f), manifest_lib.split_of_shard_name(os.path.basename(f))) == split]
        if not files:
            raise TFRecordsError(source, f"no shards of split {split!r} among the files given")
    return sorted(files), manifest, mpath


def list_shards(data, split=None) -> list[str]:
    """Paths of the shards of ``data`` (folder, glob pattern or list of files), optionally of one split.

    Raises ``TFRecordsError`` naming the folder or pattern when there is nothing to read, and naming a
    shard the manifest lists but which is missing.
    """
    return _resolve(data, split)[0]


def read_examples(data, split=None):
    """Every example of ``data`` (what ``list_shards`` lists: folder, pattern or files; one ``split`` or all),
    decoded with ``decode_numpy`` to NumPy ``BeatSequence`` objects, shard by shard in file order: for scripts and
    checks that want the examples in Python, not a tf.data pipeline. GZIP shards (``*.gz``) are read as such. A shard
    that cannot be read (corrupt, truncated) raises ``TFRecordsError`` naming it."""
    import tensorflow as tf

    for path in list_shards(data, split):
        records = iter(tf.data.TFRecordDataset(path, compression_type=manifest_lib.compression_of(path) or ""))
        while True:
            try:
                raw = next(records)
            except StopIteration:
                break
            except tf.errors.OpError as err:
                raise TFRecordsError(path, f"cannot be read ({err.message.splitlines()[0]}); python -m "
                                           "tfrecords_tools verify checks every shard") from None
            yield decode_numpy(raw.numpy())


def _check_sizes(files, manifest, mpath) -> None:
    """A shard whose size differs from the manifest is truncated or changed: say which, before reading."""
    if not manifest:
        return
    expected = {s["file"]: s["bytes"] for s in manifest["shards"]}
    for f in files:
        name = os.path.basename(f)
        if name not in expected:
            continue
        actual = fs.size(f)
        if actual != expected[name]:
            raise TFRecordsError(f, f"{actual} bytes but {mpath} says {expected[name]}: the shard is truncated or "
                                    "was changed (python -m tfrecords_tools verify checks every shard)")


def _compression(files, source) -> str:
    kinds = {manifest_lib.compression_of(f) for f in files}
    if len(kinds) != 1:
        raise TFRecordsError(source, "shards mix GZIP and uncompressed files; read them separately")
    return kinds.pop() or ""


def count_examples(data, split=None) -> int:
    """Number of examples (sequences, before cropping or windowing) in ``data`` / ``split``.

    From the manifest when there is one; otherwise by reading the shards.
    """
    files, manifest, _ = _resolve(data, split)
    if manifest:
        by_name = {s["file"]: s["examples"] for s in manifest["shards"]}
        if all(os.path.basename(f) in by_name for f in files):
            return int(sum(by_name[os.path.basename(f)] for f in files))
    import tensorflow as tf
    ds = tf.data.TFRecordDataset(files, compression_type=_compression(files, data))
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())


def dataset_spec(data, split=None) -> dict:
    """What a model needs to know about ``data``: beat_len, n_rr, label kind, label names, num_classes."""
    _, manifest, _ = _resolve(data, split)
    info = label_info(manifest)
    names = list(info.get("label_names") or [])
    return {"beat_len": manifest.get("beat_len") if manifest else None,
            "n_rr": manifest.get("n_rr") if manifest else None,
            "kind": info.get("kind"), "label_names": names, "num_classes": len(names) or None}


# --- dataset -----------------------------------------------------------------------------------------

def _check_label_setup(kind, num_classes, manifest, mpath):
    if kind not in LABEL_KINDS:
        raise ValueError(f"label_kind must be one of {LABEL_KINDS} or None, got {kind!r}")
    if kind == "multilabel" and not num_classes:
        raise ValueError("label_kind='multilabel' needs num_classes (none given and none in a manifest)")
    if not manifest:
        return
    widths = manifest.get("label_widths") or []
    if kind in ("multiclass", "binary") and widths != [1]:
        raise TFRecordsError(mpath, f"label_kind {kind!r} needs one class index per example, "
                                    f"but the examples have labels of lengths {widths}")
    if kind == "multilabel" and widths != [int(num_classes)]:
        raise TFRecordsError(mpath, f"label_kind 'multilabel' with {num_classes} classes needs multi-hot labels of "
                                    f"length {num_classes}, but the examples have labels of lengths {widths}")
    if kind == "per_beat" and not manifest.get("has_beat_labels"):
        raise TFRecordsError(mpath, "label_kind 'per_beat' but no example has beat labels")


def _crop_or_window(ds, keys, max_len, stride, *, training, seed, deterministic):
    """Cut the per-step tensors ``keys`` (beats, or the signal) of each parsed example to at most
    ``max_len`` steps: one seeded random crop per example in training; in evaluation windows every
    ``stride`` steps plus one ending at the last step (together they cover every step), one element
    each, with the record's label and ids repeated. Adds ``window_start``."""
    import tensorflow as tf

    meta = ("label", "record_id", "segment_start_s")

    def crop(p, rng_seed):
        n = tf.shape(p[keys[0]])[0]
        length = tf.minimum(n, max_len)
        start = tf.random.stateless_uniform([], seed=rng_seed, minval=0, maxval=n - length + 1, dtype=tf.int32)
        out = {key: p[key] for key in meta + ("record_features",) if key in p}
        out.update({key: p[key][start:start + length] for key in keys})
        out["window_start"] = start
        return out

    def windows(p):
        n = tf.shape(p[keys[0]])[0]
        length = tf.minimum(n, max_len)
        last = n - length
        starts = tf.concat([tf.range(0, last, stride, dtype=tf.int32), tf.reshape(last, [1])], axis=0)
        count = tf.shape(starts)[0]
        index = starts[:, None] + tf.range(length, dtype=tf.int32)[None, :]
        out = {key: tf.gather(p[key], index) for key in keys}
        out["label"] = tf.tile(p["label"][None, :], [count, 1])
        if "record_features" in p:
            out["record_features"] = tf.tile(p["record_features"][None, :], [count, 1])
        for key in ("record_id", "segment_start_s"):
            out[key] = tf.fill([count], p[key])
        out["window_start"] = starts
        return out

    if training:
        rng = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        return tf.data.Dataset.zip((ds, rng)).map(crop, num_parallel_calls=tf.data.AUTOTUNE,
                                                  deterministic=deterministic)
    # flat_map, not unbatch: unbatch crashes the process (TF 2.21) on a zero-size component, and
    # an unlabelled example's label (k, 0) or rr without RR features (k, w, 0) is one.
    ds = ds.map(windows, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return ds.flat_map(tf.data.Dataset.from_tensor_slices)


def _record_target(label, kind, num_classes):
    """The batched target of a record label: class index, (1,) binary or multi-hot."""
    import tensorflow as tf

    if kind == "multiclass":
        return tf.cast(label[0], tf.int32)
    if kind == "binary":
        return tf.cast(label[:1], tf.float32)
    return tf.ensure_shape(tf.cast(label, tf.float32), [int(num_classes)])


def make_dataset(data, *, split=None, mode: str = "sequence", training: bool = False, batch_size: int = 32,
                 max_beats: int = 128, label_kind=None, num_classes=None, target: str = "label",
                 shuffle_buffer: int = 2048, seed=None, cache=False, eval_stride=None, input_context=None,
                 drop_remainder: bool = False, deterministic=None, include_meta: bool = False, record_fraction: float = 1.0,
                 include_signal: bool = False, signal_samples: int = 3000, signal_stride=None,
                 length_aware=True, bucket_width=None, sort_window: int = 4):
    """A batched ``tf.data.Dataset`` of beat sequences (``mode="sequence"``) or single beats (``"beat"``).

    Sequence mode elements are ``(features, targets)``:

    * ``features["beats"]`` (B, T, beat_len) float32 and ``features["rr"]`` (B, T, n_rr)
      float32, zero on padding; ``features["padding_mask"]`` (B, T) bool, True on real beats (T: the
      batch's longest sequence, at most ``max_beats``; exactly ``max_beats`` with ``length_aware=False``);
      with ``include_meta``: ``record_id`` (B,) string, ``segment_start_s`` (B,) float32 (start of the
      stored example in its record) and ``window_start`` (B,) int32 (first beat of the crop/window).
    * ``features["record_features"]`` (B, F) float32 when the folder's manifest names record features
      (``metadata["record_feature_names"]``, F of them): the example's per-record vector, the same for
      every crop or window of a record, NaN kept. Absent for folders without them.
    * ``targets`` per ``label_kind`` (default: the manifest's ``label_info["kind"]``): ``multiclass``
      int32 (B,); ``multilabel`` float32 (B, num_classes) multi-hot; ``binary`` float32 (B, 1);
      ``per_beat`` int32 (B, T), ``IGNORE_LABEL`` (-1) on padding and unlabelled beats.
      ``target="beats"``: the padded beats tensor (masked-segment pre-training); ``target="none"``:
      the features dict alone.

    Beat mode elements are ``(beats, beats)`` with beats (B, beat_len) float32 (the autoencoder's
    input and target), or ``beats`` alone with ``target="none"``; beats are shuffled in training.

    Args:
        training: shuffle files and examples, random crops; else deterministic order and windows.
        eval_stride: beats between evaluation windows (default ``max_beats``: no overlap); 1..max_beats.
        seed: seeds file and example shuffling and the crops (None: not reproducible).
        cache: True caches parsed examples in memory, a string caches to that file path.
        input_context: ``tf.distribute.InputContext``; the file list is sharded per input pipeline.
        deterministic: passed to ``interleave`` and ``map`` (None: tf.data's default, deterministic).
        record_fraction: keep only the examples of about this fraction of the records, chosen by a
            hash of the record id (label-efficiency experiments); 1.0 keeps all.
        include_signal: elements are windows of the continuous signal stored by ``prepare --raw-signal``
            instead of beat sequences: ``features["signal"]`` (B, signal_samples, 1) float32, zero
            after the end of a shorter signal, and ``features["padding_mask"]`` (B, signal_samples) bool,
            True on real samples (meta as above; ``window_start`` is then the first sample). In
            training one random crop of ``signal_samples`` per example per epoch; in evaluation windows
            every ``signal_stride`` samples (default ``signal_samples``) plus one ending at the last
            sample, to be averaged per record. Sequence mode and record-level labels only.
        length_aware: the beat axis of each batch (sequence mode). ``True`` (default): every batch is
            padded to its longest sequence (T <= max_beats, varying between batches; the element
            spec's beat axis is None); in training sequences are also grouped by length
            (``bucket_by_sequence_length``, boundaries from ``bucket_boundaries``: every
            ``bucket_width`` beats over the split's beat range in the manifest), so that little
            padding is left; evaluation keeps its order. ``"bucket"``: the same. ``"sort"``: in
            training, length-sorted windows: ``sort_window`` x ``batch_size`` shuffled examples
            are sorted by length and cut into batches, and the batches are shuffled (each batch
            draws from a random window, so the grouping is coarse and the class mix of a window
            kept); evaluation as ``"pad"``. ``"pad"``: padded to the longest sequence, no
            grouping. ``False``: the fixed shape, every batch padded to ``max_beats`` (export and
            TFLite calibration windows, models with a fixed input length such as the ResNet baseline
            on beats).
        bucket_width: beats between bucket boundaries (default ``max(4, max_beats // 16)``). With
            grouping, ``drop_remainder`` does not apply: each bucket's last batch of a pass may be
            partial (else the lengths of a bucket holding fewer than ``batch_size`` examples would
            never be trained on).
        sort_window: batches per length-sorted window (``length_aware="sort"``), >= 1; 1 is ``"pad"``.
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if int(max_beats) < 1:
        raise ValueError(f"max_beats must be positive, got {max_beats}")
    batch_size, max_beats = int(batch_size), int(max_beats)
    stride = max_beats if eval_stride is None else int(eval_stride)
    if not 1 <= stride <= max_beats:
        raise ValueError(f"eval_stride must be in 1..max_beats={max_beats} so windows cover every beat, got {eval_stride}")
    if include_signal:
        if mode != "sequence":
            raise ValueError("include_signal reads signal windows; it needs mode='sequence'")
        signal_samples = int(signal_samples)
        if signal_samples < 1:
            raise ValueError(f"signal_samples must be positive, got {signal_samples}")
        signal_stride = signal_samples if signal_stride is None else int(signal_stride)
        if not 1 <= signal_stride <= signal_samples:
            raise ValueError(f"signal_stride must be in 1..signal_samples={signal_samples}, got {signal_stride}")
    if not 0.0 < float(record_fraction) <= 1.0:
        raise ValueError(f"record_fraction must be in (0, 1], got {record_fraction}")
    if int(shuffle_buffer) < 1:
        raise ValueError(f"shuffle_buffer must be positive, got {shuffle_buffer}")
    if length_aware not in LENGTH_AWARE:
        raise ValueError(f"length_aware must be True, False, 'pad', 'bucket' or 'sort', got {length_aware!r}")
    if isinstance(sort_window, bool) or int(sort_window) < 1:
        raise ValueError(f"sort_window must be a positive number of batches, got {sort_window!r}")

    files, manifest, mpath = _resolve(data, split)
    _check_sizes(files, manifest, mpath)
    source = mpath or data
    info = label_info(manifest)
    kind = label_kind if label_kind is not None else info.get("kind")
    if num_classes is None and info.get("label_names"):
        num_classes = len(info["label_names"])
    if mode == "sequence" and target == "label":
        if kind is None:
            raise TFRecordsError(source, "no label kind: the data are unlabelled (no label_info in the manifest); "
                                         "pass label_kind=..., or target='beats' / 'none'")
        _check_label_setup(kind, num_classes, manifest, mpath)
    beat_len = manifest.get("beat_len") if manifest else None
    n_rr = manifest.get("n_rr") if manifest else None
    n_record_features = len((manifest.get("metadata") or {}).get("record_feature_names") or []) if manifest else 0

    # 1. files, sharded per input pipeline before anything is read.
    files_ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(files) < input_context.num_input_pipelines:
            raise TFRecordsError(source, f"{len(files)} shard(s) for {input_context.num_input_pipelines} input "
                                         "pipelines: write smaller shards (shard_size_bytes) so every worker gets one")
        files_ds = files_ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if training:
        files_ds = files_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    # 2. read and parse.
    compression = _compression(files, source)
    ds = files_ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type=compression),
                             cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE,
                             deterministic=deterministic)

    def parse_example(serialized):
        p = parse(serialized)
        with tf.control_dependencies([tf.debugging.assert_equal(
                p["schema_version"], tf.constant(SCHEMA_VERSION, tf.int64),
                message=f"example of another schema version than {SCHEMA_VERSION}")]):
            beats = tf.identity(p["beats"])
        beats.set_shape([None, beat_len])
        rr = p["rr"]
        rr.set_shape([None, n_rr])
        n = tf.shape(beats)[0]
        beat_labels = tf.cast(p["beat_labels"], tf.int32)
        # No beat labels stored: every beat unlabelled, so windows and crops can slice one (n,) vector.
        beat_labels = tf.cond(tf.size(beat_labels) > 0, lambda: beat_labels,
                              lambda: tf.fill([n], tf.constant(IGNORE_LABEL, tf.int32)))
        beat_labels.set_shape([None])
        out = {"beats": beats, "rr": rr, "beat_labels": beat_labels, "label": p["label"],
               "record_id": p["record_id"], "segment_start_s": p["segment_start_s"]}
        if n_record_features:
            with tf.control_dependencies([tf.debugging.assert_equal(
                    tf.size(p["record_features"]), n_record_features,
                    message=f"an example without its {n_record_features} record features")]):
                out["record_features"] = tf.identity(p["record_features"])
            out["record_features"].set_shape([n_record_features])
        if include_signal:
            with tf.control_dependencies([tf.debugging.assert_positive(
                    tf.size(p["signal"]), message="an example without a stored signal (prepare --raw-signal)")]):
                out["signal"] = tf.identity(p["signal"])
            out["signal"].set_shape([None])
        return out

    ds = ds.map(parse_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if record_fraction < 1.0:
        # By a hash of the record id, not by position: the same records whatever the seed, shard
        # order or number of workers (a record's chunks stay together).
        buckets = 10_000
        ds = ds.filter(lambda p: tf.strings.to_hash_bucket_fast(p["record_id"], buckets)
                       < int(round(record_fraction * buckets)))
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if training:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)

    if mode == "beat":
        # beats (n, beat_len) is never zero-size (the writer refuses empty sequences), so unbatch is safe here.
        ds = ds.map(lambda p: p["beats"], num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic).unbatch()
        if training:
            ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        if target != "none":
            ds = ds.map(lambda b: (b, b))
        return ds.prefetch(tf.data.AUTOTUNE)

    if include_signal:
        if target == "label" and kind == "per_beat":
            raise TFRecordsError(source, "include_signal gives signal windows with record-level labels; "
                                         "per-beat labels need beat sequences")
        if manifest and not (manifest.get("metadata") or {}).get("raw_signal"):
            raise TFRecordsError(source, "the examples hold no continuous signal: prepare the data with --raw-signal")
        return _signal_dataset(ds, training=training, samples=signal_samples, stride=signal_stride, seed=seed,
                               batch_size=batch_size, target=target, kind=kind, num_classes=num_classes,
                               include_meta=include_meta, drop_remainder=drop_remainder, deterministic=deterministic)

    # 3. crop (training) or window (evaluation) to at most max_beats beats.
    ds = _crop_or_window(ds, ("beats", "rr", "beat_labels"), max_beats, stride, training=training, seed=seed,
                         deterministic=deterministic)

    # 4. targets per element, then pad and batch.
    def to_element(p):
        element = {"beats": p["beats"], "rr": p["rr"],
                   "padding_mask": tf.ones(tf.shape(p["beats"])[:1], tf.bool)}
        if "record_features" in p:
            element["record_features"] = p["record_features"]
        if include_meta:
            element.update(record_id=p["record_id"], segment_start_s=p["segment_start_s"],
                           window_start=tf.cast(p["window_start"], tf.int32))
        if target == "label":
            element["target"] = p["beat_labels"] if kind == "per_beat" else _record_target(p["label"], kind, num_classes)
        return element

    ds = ds.map(to_element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    steps = None if length_aware else max_beats      # the batch's beat axis: its longest sequence, or max_beats
    padded_shapes = {"beats": [steps, beat_len], "rr": [steps, n_rr], "padding_mask": [steps]}
    padding_values = {"beats": 0.0, "rr": 0.0, "padding_mask": False}
    if n_record_features:
        padded_shapes["record_features"] = [n_record_features]
        padding_values["record_features"] = 0.0
    if include_meta:
        padded_shapes.update(record_id=[], segment_start_s=[], window_start=[])
        padding_values.update(record_id="", segment_start_s=0.0, window_start=0)
    if target == "label":
        padded_shapes["target"] = {"multiclass": [], "binary": [1], "multilabel": [int(num_classes or 0)],
                                   "per_beat": [steps]}[kind]
        padding_values["target"] = {"multiclass": 0, "binary": 0.0, "multilabel": 0.0, "per_beat": IGNORE_LABEL}[kind]
    padding_values = {k: tf.constant(v, ds.element_spec[k].dtype) for k, v in padding_values.items()}
    boundaries = None
    if length_aware in (True, "bucket") and training:
        boundaries = bucket_boundaries(manifest, split, max_beats, bucket_width, batch_size=batch_size)
    if length_aware == "sort" and training and int(sort_window) > 1:
        ds = _sorted_windows(ds, int(sort_window), batch_size, seed=seed, deterministic=deterministic)
        ds = ds.padded_batch(batch_size, padded_shapes=padded_shapes, padding_values=padding_values,
                             drop_remainder=drop_remainder)
        # Batches leave each window shortest first: shuffle them over a few windows.
        ds = ds.shuffle(4 * int(sort_window), seed=seed, reshuffle_each_iteration=True)
    elif boundaries:
        # Each bucket's last, partial batch of a pass is kept even with drop_remainder: dropping it
        # would leave out the rarest lengths (a bucket with fewer than batch_size examples) every pass.
        ds = ds.bucket_by_sequence_length(lambda e: tf.shape(e["beats"])[0], boundaries,
                                          [batch_size] * (len(boundaries) + 1), padded_shapes=padded_shapes,
                                          padding_values=padding_values, drop_remainder=False)
    else:
        ds = ds.padded_batch(batch_size, padded_shapes=padded_shapes, padding_values=padding_values,
                             drop_remainder=drop_remainder)

    def split_targets(batch):
        features = {k: v for k, v in batch.items() if k != "target"}
        if target == "label":
            return features, batch["target"]
        if target == "beats":
            return features, batch["beats"]
        return features

    ds = ds.map(split_targets, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return ds.prefetch(tf.data.AUTOTUNE)


def _sorted_windows(ds, window_batches: int, batch_size: int, *, seed=None, deterministic=None):
    """Elements (dicts, first axis of ``beats`` the beats) in windows of ``window_batches`` x
    ``batch_size``, each window sorted by length (stable: ties keep the shuffled order), then one by
    one again (``padded_batch`` next cuts each window into batches of similar length)."""
    import tensorflow as tf

    def sort(window):
        order = tf.argsort(window["beats"].row_lengths(), stable=True)
        return tf.nest.map_structure(lambda t: tf.gather(t, order), window)

    ds = ds.ragged_batch(window_batches * batch_size).map(sort, num_parallel_calls=tf.data.AUTOTUNE,
                                                          deterministic=deterministic)
    # unbatch gives ragged-rank-0 specs for the variable-length parts; identity makes them plain tensors.
    return ds.unbatch().map(lambda e: tf.nest.map_structure(tf.identity, e), num_parallel_calls=tf.data.AUTOTUNE,
                            deterministic=deterministic)


def bucket_boundaries(manifest, split, max_beats: int, bucket_width=None, batch_size=None) -> list[int]:
    """Bucket boundaries (``bucket_by_sequence_length``) for sequences of at most ``max_beats`` beats:
    every ``bucket_width`` beats from the shortest sequence of ``split`` (manifest ``min_beats``) to the
    longest after the crop (``min(max_beats, max_beats of the split)``); without a manifest, over
    1..max_beats. With ``batch_size`` and the split's example count, buckets are widened so that
    there are at least 4 batches' worth of examples per bucket on average (small data sets would
    otherwise leave buckets that never fill a batch). ``[]`` when all sequences fall in one bucket."""
    max_beats = int(max_beats)
    width = int(bucket_width) if bucket_width else max(4, max_beats // 16)
    if width < 1:
        raise ValueError(f"bucket_width must be positive, got {bucket_width}")
    low, high, examples = 1, max_beats, None
    if manifest:
        stats = (manifest.get("splits") or {}).get(split) if split is not None else manifest.get("totals")
        stats = stats or manifest.get("totals") or {}
        low = int(stats.get("min_beats") or 1)
        high = min(max_beats, int(stats.get("max_beats") or max_beats))
        examples = stats.get("examples")
    if batch_size and examples:
        buckets = max(1, int(examples) // (4 * int(batch_size)))
        width = max(width, -(-(high - low + 1) // buckets))
    # A boundary b holds lengths < b: the first bucket ends at low + width, the last one holds high.
    return [b for b in range(low + width, high + 1, width)]


def _signal_dataset(ds, *, training, samples, stride, seed, batch_size, target, kind, num_classes, include_meta,
                    drop_remainder, deterministic):
    """``make_dataset(include_signal=True)`` after parsing: crops or windows of the stored signal."""
    import tensorflow as tf

    ds = _crop_or_window(ds, ("signal",), samples, stride, training=training, seed=seed, deterministic=deterministic)

    def to_element(p):
        element = {"signal": p["signal"], "padding_mask": tf.ones(tf.shape(p["signal"])[:1], tf.bool)}
        if include_meta:
            element.update(record_id=p["record_id"], segment_start_s=p["segment_start_s"],
                           window_start=tf.cast(p["window_start"], tf.int32))
        if target == "label":
            element["target"] = _record_target(p["label"], kind, num_classes)
        return element

    ds = ds.map(to_element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    padded_shapes = {"signal": [samples], "padding_mask": [samples]}
    padding_values = {"signal": 0.0, "padding_mask": False}
    if include_meta:
        padded_shapes.update(record_id=[], segment_start_s=[], window_start=[])
        padding_values.update(record_id="", segment_start_s=0.0, window_start=0)
    if target == "label":
        padded_shapes["target"] = {"multiclass": [], "binary": [1], "multilabel": [int(num_classes or 0)]}[kind]
        padding_values["target"] = 0 if kind == "multiclass" else 0.0
    padding_values = {k: tf.constant(v, ds.element_spec[k].dtype) for k, v in padding_values.items()}
    ds = ds.padded_batch(batch_size, padded_shapes=padded_shapes, padding_values=padding_values,
                         drop_remainder=drop_remainder)

    def split_targets(batch):
        features = {k: v for k, v in batch.items() if k != "target"}
        features["signal"] = features["signal"][..., None]
        if target == "label":
            return features, batch["target"]
        if target == "beats":
            return features, features["signal"]
        return features

    ds = ds.map(split_targets, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return ds.prefetch(tf.data.AUTOTUNE)


def input_fn_for_strategy(data, *, global_batch_size: int, **make_dataset_kwargs):
    """A ``function(input_context)`` for ``strategy.distribute_datasets_from_function``.

    Each input pipeline reads its own shards (``input_context``) and batches
    ``input_context.get_per_replica_batch_size(global_batch_size)`` examples.
    """
    if "batch_size" in make_dataset_kwargs or "input_context" in make_dataset_kwargs:
        raise ValueError("input_fn_for_strategy sets batch_size and input_context itself; pass global_batch_size")

    def input_fn(input_context):
        batch_size = input_context.get_per_replica_batch_size(int(global_batch_size))
        return make_dataset(data, batch_size=batch_size, input_context=input_context, **make_dataset_kwargs)

    return input_fn

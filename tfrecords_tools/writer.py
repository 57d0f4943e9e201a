"""Write beat sequences into sharded TFRecord files with a ``manifest.json``, atomically.

    with ShardedWriter("out/cinc2017", prefix="cinc2017", compression="GZIP") as writer:
        for example, split in examples:
            writer.write(example, split=split)          # "train" / "validation" / "test"
        manifest = writer.finalize({"label_info": {"kind": "multiclass", "label_names": [...]}})

How a failure never loses data:

* Shards are written into a hidden staging folder inside ``out_dir`` (``.staging-*``), each as
  ``NAME.tmp`` renamed to ``NAME`` once closed. Nothing reaches ``out_dir`` itself before ``finalize``.
* ``finalize`` closes every shard, then (``overwrite=True`` only) removes the old ``manifest.json``
  first and then the old shards it recognises (files listed in the old manifest, or named
  ``*-SPLIT-NNNNN.tfrecord[.gz]``, and stale ``.staging-*`` folders; any other file is left alone),
  moves the new shards in by rename, and writes ``manifest.json`` last, atomically. A folder with a
  manifest therefore always holds every shard the manifest names.
* An exception inside the ``with`` block (or before ``finalize``) removes the staging folder: the
  ``.tmp`` files and the new shards go, no manifest is written, and an old data set in ``out_dir``
  (``overwrite=True``) stays exactly as it was.
* Leaving the ``with`` block without an exception and without calling ``finalize`` finalizes with
  empty metadata. An exception *after* ``finalize`` (still inside the block) keeps the finished
  data set: ``finalize`` is the commit point.

The shard size is counted in serialised (uncompressed) record bytes, so ``shard_size_bytes`` also
bounds the memory a reader needs per shard; GZIP shards are smaller on disk.

**Any filesystem.** Every file goes through ``tfrecords_tools.fs`` (``tf.io.gfile``), so ``out_dir``
may be a local path or a URI (``gs://bucket/data``, ``ram://``). Renames are atomic on local
filesystems and ``ram://``, copy + delete on object stores: there the manifest is still written
last, but a crash can leave shard files beside an older manifest (see ``tfrecords_tools.fs``).

**Stale staging and resuming.** Each staging folder holds ``owner.json`` (process id and host).
``open`` removes the staging folders no live process owns (a killed writer's), without
``overwrite``. With ``resume_key`` (any JSON value that identifies the job: inputs and
parameters), every closed shard is listed in the staging folder's ``progress.json`` with its
SHA-256 and the caller's keys (``write_record(examples, split, key)``: a record's examples never
straddle two shards); a new writer with the same ``resume_key`` adopts that folder: it keeps the
listed shards whose SHA-256 still matches (their statistics are read back from them), deletes
everything else in it, and ``done_keys`` tells the caller which records to skip. A
``KeyboardInterrupt`` keeps a resumable staging folder for the next run.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import uuid
from collections import Counter
from datetime import datetime, timezone

import numpy as np

from tfrecords_tools import fs
from tfrecords_tools import manifest as manifest_lib
from tfrecords_tools.errors import TFRecordsError
from tfrecords_tools.schema import MANIFEST_NAME, SCHEMA_VERSION, BeatSequence, encode

log = logging.getLogger("tfrecords_tools.writer")

DEFAULT_SPLIT = "all"          # split name of data written without one
STAGING_PREFIX = ".staging-"
OWNER_NAME = "owner.json"          # in a staging folder: {"pid", "host"} of the writer using it
PROGRESS_NAME = "progress.json"    # in a resumable staging folder: the closed shards, SHA-256 and keys
_RECORD_OVERHEAD_BYTES = 16    # TFRecord framing: length (8) + two CRCs (4 + 4)


class _OpenShard:
    """One shard being written: a ``*.tmp`` file in the staging folder."""

    def __init__(self, staging: str, name: str, compression):
        import tensorflow as tf

        self.name = name
        self.tmp_path = fs.join(staging, name + ".tmp")
        self.final_path = fs.join(staging, name)
        self.keys = []
        options = tf.io.TFRecordOptions(compression_type=compression or "")
        self.writer = tf.io.TFRecordWriter(str(self.tmp_path), options=options)
        self.examples = 0
        self.beats = 0
        self.raw_bytes = 0

    def write(self, serialized: bytes, n_beats: int) -> None:
        self.writer.write(serialized)
        self.examples += 1
        self.beats += n_beats
        self.raw_bytes += len(serialized) + _RECORD_OVERHEAD_BYTES

    def close(self) -> None:
        self.writer.close()
        fs.rename(self.tmp_path, self.final_path, overwrite=True)

    def discard(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - already failing; the file is removed below
            pass


class _SplitStats:
    def __init__(self):
        self.examples = 0
        self.beats = 0
        self.min_beats = None
        self.max_beats = None
        self.labels = manifest_lib.LabelCounter()

    def add(self, n_beats: int, label, beat_labels) -> None:
        self.examples += 1
        self.beats += n_beats
        self.min_beats = n_beats if self.min_beats is None else min(self.min_beats, n_beats)
        self.max_beats = n_beats if self.max_beats is None else max(self.max_beats, n_beats)
        self.labels.add(label, beat_labels, n_beats)


def _stats_of_serialized(serialized: bytes, where) -> dict:
    """What the manifest needs from one serialised example (and a schema check)."""
    import tensorflow as tf

    try:
        features = tf.train.Example.FromString(serialized).features.feature
        version = features["schema_version"].int64_list.value[0]
        n_beats = int(features["n_beats"].int64_list.value[0])
        beat_len = int(features["beat_len"].int64_list.value[0])
        n_rr = int(features["n_rr"].int64_list.value[0])
        record_id = features["record_id"].bytes_list.value[0].decode("utf-8")
        fs = float(features["fs"].float_list.value[0])
        label = np.asarray(features["label"].int64_list.value, np.int64)
        beat_labels = np.asarray(features["beat_labels"].int64_list.value, np.int64)
    except Exception as exc:  # noqa: BLE001 - any decoding failure means "not one of our examples"
        raise TFRecordsError(where, f"write_serialized got bytes that are not a schema-{SCHEMA_VERSION} "
                                    f"BeatSequence example ({type(exc).__name__}: {exc})") from None
    if version != SCHEMA_VERSION:
        raise TFRecordsError(where, f"example {record_id} has schema version {version}, writer writes {SCHEMA_VERSION}")
    return {"record_id": record_id, "n_beats": n_beats, "beat_len": beat_len, "n_rr": n_rr, "fs": fs,
            "label": label, "beat_labels": beat_labels}


class ShardedWriter:
    """Sharded, atomic TFRecord writer of ``BeatSequence`` examples (use as a context manager).

    Args:
        out_dir: output folder; refused when not empty unless ``overwrite=True``.
        prefix: shard name prefix: ``{prefix}-{split}-{index:05d}.tfrecord`` (``.tfrecord.gz`` with GZIP).
        split: default split of ``write`` calls that give none (``"all"`` when None). Several splits
            can go into one folder, each with its own shard sequence; they share one manifest.
        shard_size_bytes: start a new shard once this many serialised bytes are in the current one.
        max_examples_per_shard: also start a new shard after this many examples (None: no limit).
        compression: None or ``"GZIP"``.
        overwrite: replace the shards and manifest of a non-empty ``out_dir`` (see module docstring).
    """

    def __init__(self, out_dir, *, prefix: str = "data", split: str | None = None, shard_size_bytes: int = 64 << 20,
                 max_examples_per_shard: int | None = None, compression=None, overwrite: bool = False,
                 resume_key=None):
        self.out_dir = os.fspath(out_dir)
        if not prefix or "/" in prefix or os.sep in prefix:
            raise ValueError(f"prefix must be a non-empty file name part, got {prefix!r}")
        self.prefix = prefix
        self.default_split = self._check_split(split or DEFAULT_SPLIT)
        if int(shard_size_bytes) <= 0:
            raise ValueError(f"shard_size_bytes must be positive, got {shard_size_bytes}")
        self.shard_size_bytes = int(shard_size_bytes)
        if max_examples_per_shard is not None and int(max_examples_per_shard) <= 0:
            raise ValueError(f"max_examples_per_shard must be positive or None, got {max_examples_per_shard}")
        self.max_examples_per_shard = None if max_examples_per_shard is None else int(max_examples_per_shard)
        self.compression = manifest_lib.normalize_compression(compression)
        self.overwrite = bool(overwrite)
        self.resume_key = resume_key
        self.done_keys: set = set()            # resume: keys of records already in kept shards
        self.resumed = {"shards": 0, "examples": 0, "beats_per_split": {}, "dropped_shards": []}

        self._staging: str | None = None
        self._created_out_dir = False
        self._open: dict[str, _OpenShard] = {}
        self._next_index: dict[str, int] = {}
        self._shards: list[dict] = []          # completed shards, in completion order
        self._splits: dict[str, _SplitStats] = {}
        self._beat_len = None
        self._n_rr = None
        self._label_widths: set[int] = set()
        self._fs: set[float] = set()
        self._has_beat_labels = False
        self._shard_keys: dict[str, list] = {}  # resumable: shard file -> keys of the records in it
        self._state = "new"                    # new -> open -> finalized | aborted
        self.manifest: dict | None = None

    # --- context manager ---------------------------------------------------------------------------

    def __enter__(self) -> "ShardedWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            if self._state == "open":
                self.abort(keep_progress=self.resume_key is not None and issubclass(exc_type, KeyboardInterrupt))
            return False
        if self._state == "open":
            log.info("%s: leaving the writer without finalize(); finalizing with empty metadata", self.out_dir)
            self.finalize({})
        return False

    def open(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"{self.out_dir}: writer already {self._state}")
        if fs.exists(self.out_dir):
            if not fs.isdir(self.out_dir):
                raise TFRecordsError(self.out_dir, "output path exists and is not a folder")
            adopted = self._clean_stale_staging()
            entries = [name for name in fs.listdir(self.out_dir) if not name.startswith(STAGING_PREFIX)]
            if entries and not self.overwrite:
                shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
                raise TFRecordsError(self.out_dir, f"output folder is not empty ({len(entries)} entries: {shown}); "
                                                   "pass overwrite=True to replace its shards and manifest")
        else:
            fs.check_writable_dir(self.out_dir)
            self._created_out_dir = True
            adopted = None
        if adopted is not None:
            self._staging = adopted
            self._write_owner()
            self._adopt(adopted)
        else:
            self._staging = fs.join(self.out_dir, STAGING_PREFIX + uuid.uuid4().hex[:10])
            fs.check_writable_dir(self._staging)
            self._write_owner()
        self._state = "open"

    # --- staging folders: stale ones, resuming ----------------------------------------------------

    def _write_owner(self) -> None:
        fs.write_json_atomic(fs.join(self._staging, OWNER_NAME), {"pid": os.getpid(), "host": socket.gethostname()})

    @staticmethod
    def _owner_alive_here(staging: str) -> bool:
        """Whether a live process of this host owns ``staging``: even ``overwrite`` leaves it alone."""
        try:
            owner = json.loads(fs.read_text(fs.join(staging, OWNER_NAME)))
            same_host = owner["host"] == socket.gethostname() and int(owner["pid"]) != os.getpid()
        except (TFRecordsError, ValueError, KeyError, TypeError):
            return False
        return same_host and ShardedWriter._owner_alive(staging)

    @staticmethod
    def _owner_alive(staging: str) -> bool:
        try:
            owner = json.loads(fs.read_text(fs.join(staging, OWNER_NAME)))
            pid, host = int(owner["pid"]), owner["host"]
        except (TFRecordsError, ValueError, KeyError, TypeError):
            return False              # no owner file (an older writer's, or killed while starting): stale
        if host != socket.gethostname():
            return True               # cannot tell from here: leave it (overwrite=True removes it)
        if pid == os.getpid():
            return False              # an earlier, interrupted writer of this very process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _clean_stale_staging(self) -> str | None:
        """Remove staging folders no live writer owns; return the one to resume (same ``resume_key``)."""
        adopted = None
        for name in fs.listdir(self.out_dir):
            if not name.startswith(STAGING_PREFIX):
                continue
            staging = fs.join(self.out_dir, name)
            if not fs.isdir(staging):
                continue
            # overwrite replaces finished output and stale staging, never a live writer's staging
            if self._owner_alive_here(staging) or (not self.overwrite and self._owner_alive(staging)):
                raise TFRecordsError(staging, "another writer (see its owner.json) is writing into this folder; "
                                              "wait for it or stop it")
            if adopted is None and self.resume_key is not None:
                try:
                    progress = json.loads(fs.read_text(fs.join(staging, PROGRESS_NAME)))
                except (TFRecordsError, ValueError):
                    progress = None
                if isinstance(progress, dict) and progress.get("resume_key") == json.loads(
                        json.dumps(self.resume_key)):
                    adopted = staging
                    continue
            log.info("%s: removing the stale staging folder of an interrupted writer", staging)
            fs.rmtree(staging, ignore_errors=True)
        return adopted

    def _adopt(self, staging: str) -> None:
        """Keep the shards of ``progress.json`` whose SHA-256 matches; delete every other file."""
        import tensorflow as tf

        progress = json.loads(fs.read_text(fs.join(staging, PROGRESS_NAME)))
        kept = []
        for entry in progress.get("shards", []):
            path = fs.join(staging, entry["file"])
            ok = fs.exists(path) and fs.size(path) == entry["bytes"] and fs.sha256(path) == entry["sha256"]
            if not ok:
                log.warning("%s: finished shard changed or missing; its records are done again", path)
                self.resumed["dropped_shards"].append(entry["file"])
                continue
            kept.append(entry)
        names = {e["file"] for e in kept} | {OWNER_NAME}
        for name in fs.listdir(staging):
            if name not in names:
                fs.remove(fs.join(staging, name)) if not fs.isdir(fs.join(staging, name)) else \
                    fs.rmtree(fs.join(staging, name), ignore_errors=True)
        for entry in kept:
            split = entry["split"]
            path = fs.join(staging, entry["file"])
            options = tf.io.TFRecordOptions(compression_type=manifest_lib.compression_of(path) or "")
            for serialized in tf.data.TFRecordDataset(path, compression_type=options.compression_type):
                stats = _stats_of_serialized(serialized.numpy(), path)
                self._check_shapes(stats)
                self._splits.setdefault(split, _SplitStats()).add(stats["n_beats"], stats["label"],
                                                                  stats["beat_labels"])
                self.resumed["examples"] += 1
                self.resumed["beats_per_split"][split] = self.resumed["beats_per_split"].get(split, 0) + stats["n_beats"]
            match = manifest_lib.SHARD_NAME_RE.match(entry["file"])
            self._next_index[split] = max(self._next_index.get(split, 0), int(match.group("index")) + 1)
            self._shards.append({k: entry[k] for k in ("file", "split", "examples", "beats", "bytes", "sha256")})
            self._shard_keys[entry["file"]] = list(entry.get("keys", []))
            self.done_keys.update(_hashable(k) for k in entry.get("keys", []))
        self.resumed["shards"] = len(kept)
        self._write_progress()
        log.info("%s: resuming: kept %d finished shards (%d examples, %d records)", self.out_dir, len(kept),
                 self.resumed["examples"], len(self.done_keys))

    @property
    def staging_dir(self) -> str:
        """The staging folder: an external engine (Apache Beam) may write finished shards here and
        hand them over with ``add_finished_shards``."""
        if self._state != "open":
            raise RuntimeError(f"{self.out_dir}: the writer is {self._state}")
        return self._staging

    def add_finished_shards(self, names_and_splits) -> dict:
        """Adopt shards written into ``staging_dir`` by someone else (``(file name, split)`` pairs,
        names as ``manifest.shard_file_name`` gives them): their statistics are read back, their
        SHA-256 computed, and ``finalize`` lists them like the writer's own. Returns what was read
        back, ``{file name: Counter(record_id -> examples)}``, so that the caller can check the files
        against what it meant to write."""
        import tensorflow as tf

        read_back = {}
        for name, split in names_and_splits:
            split = self._check_split(split)
            match = manifest_lib.SHARD_NAME_RE.match(name)
            if not match or match.group("split") != split or manifest_lib.compression_of(name) != self.compression:
                raise TFRecordsError(name, f"not a {self.compression or 'uncompressed'} shard name of split {split!r}")
            path = fs.join(self._staging, name)
            examples = beats = 0
            records = read_back[name] = Counter()
            for serialized in tf.data.TFRecordDataset(path, compression_type=self.compression or ""):
                stats = _stats_of_serialized(serialized.numpy(), path)
                self._check_shapes(stats)
                self._splits.setdefault(split, _SplitStats()).add(stats["n_beats"], stats["label"],
                                                                  stats["beat_labels"])
                examples += 1
                beats += stats["n_beats"]
                records[stats["record_id"]] += 1
            self._next_index[split] = max(self._next_index.get(split, 0), int(match.group("index")) + 1)
            self._shards.append({"file": name, "split": split, "examples": examples, "beats": beats,
                                 "bytes": fs.size(path), "sha256": fs.sha256(path)})
        return read_back

    def _write_progress(self) -> None:
        if self.resume_key is None:
            return
        shards = [{**s, "keys": self._shard_keys.get(s["file"], [])} for s in self._shards]
        fs.write_json_atomic(fs.join(self._staging, PROGRESS_NAME), {"resume_key": self.resume_key,
                                                                      "shards": shards})

    # --- writing -----------------------------------------------------------------------------------

    @staticmethod
    def _check_split(split: str) -> str:
        if not isinstance(split, str) or not manifest_lib.SPLIT_NAME_RE.match(split):
            raise ValueError(f"split names are letters, digits and '_', got {split!r}")
        return split

    def write(self, example: BeatSequence, split: str | None = None) -> None:
        """Add one ``BeatSequence`` to ``split`` (default: the writer's split)."""
        if not isinstance(example, BeatSequence):
            raise TypeError(f"write() takes a BeatSequence, got {type(example).__name__}; "
                            "use write_serialized() for encoded bytes")
        self._write(encode(example), split, _stats_of(example))

    def write_serialized(self, serialized: bytes, split: str | None = None) -> None:
        """Add one example already serialised by ``schema.encode`` (e.g. in a worker process)."""
        self._write(bytes(serialized), split, _stats_of_serialized(serialized, self.out_dir))

    def write_record(self, examples, split: str | None = None, key=None) -> None:
        """Add every example of one record to ``split`` and remember ``key`` (JSON-serialisable) as
        done once their shard is closed. The shard is closed, when full, only after the last example,
        so that a resumed run redoes whole records."""
        if key is not None and self.resume_key is None:
            raise ValueError("write_record(key=...) needs a writer opened with resume_key")
        for example in examples:
            if isinstance(example, (bytes, bytearray)):
                self._write(bytes(example), split, _stats_of_serialized(example, self.out_dir), close_if_full=False)
            else:
                self._write(encode(example), split, _stats_of(example), close_if_full=False)
        split = self._check_split(split or self.default_split)
        shard = self._open.get(split)
        if shard is not None:
            if key is not None:
                shard.keys.append(key)
            if self._is_full(shard):
                self._close_shard(split)

    def _is_full(self, shard) -> bool:
        return shard.raw_bytes >= self.shard_size_bytes or (
            self.max_examples_per_shard is not None and shard.examples >= self.max_examples_per_shard)

    def _write(self, serialized: bytes, split, stats: dict, close_if_full: bool = True) -> None:
        if self._state != "open":
            raise RuntimeError(f"{self.out_dir}: write() on a writer that is {self._state} "
                               "(use it as a context manager, before finalize)")
        split = self._check_split(split or self.default_split)
        self._check_shapes(stats)
        shard = self._open.get(split)
        if shard is None:
            index = self._next_index.get(split, 0)
            self._next_index[split] = index + 1
            name = manifest_lib.shard_file_name(self.prefix, split, index, self.compression)
            shard = self._open[split] = _OpenShard(self._staging, name, self.compression)
        shard.write(serialized, stats["n_beats"])
        self._splits.setdefault(split, _SplitStats()).add(stats["n_beats"], stats["label"], stats["beat_labels"])
        if close_if_full and self._is_full(shard):
            self._close_shard(split)

    def _check_shapes(self, stats: dict) -> None:
        # One beat length and one RR width per folder: the reader gives Keras static shapes from them.
        for attr, key in (("_beat_len", "beat_len"), ("_n_rr", "n_rr")):
            seen = getattr(self, attr)
            if seen is None:
                setattr(self, attr, stats[key])
            elif seen != stats[key]:
                raise TFRecordsError(self.out_dir, f"example {stats['record_id']}: {key} {stats[key]} differs from "
                                                   f"{seen} of the examples before it (one {key} per folder)")
        if stats["n_beats"] < 1 or stats["beat_len"] < 1:
            raise TFRecordsError(self.out_dir, f"example {stats['record_id']} has no beats "
                                               f"(shape {stats['n_beats']} x {stats['beat_len']})")
        self._label_widths.add(int(np.size(stats["label"])))
        self._fs.add(float(stats["fs"]))
        self._has_beat_labels |= bool(np.size(stats["beat_labels"]))

    def _close_shard(self, split: str) -> None:
        shard = self._open.pop(split)
        shard.close()
        self._shards.append({
            "file": shard.name,
            "split": split,
            "examples": shard.examples,
            "beats": shard.beats,
            "bytes": fs.size(shard.final_path),
            "sha256": fs.sha256(shard.final_path),
        })
        if self.resume_key is not None:
            self._shard_keys[shard.name] = list(shard.keys)
            self._write_progress()

    # --- commit / abort ----------------------------------------------------------------------------

    def finalize(self, metadata: dict | None = None) -> dict:
        """Close every shard, move them into ``out_dir`` and write ``manifest.json`` last; returns it.

        ``metadata`` is stored verbatim under ``"metadata"`` (it must be JSON-serialisable); the
        reader takes the label kind and names from ``metadata["label_info"]``.
        """
        if self._state != "open":
            raise RuntimeError(f"{self.out_dir}: finalize() on a writer that is {self._state}")
        try:
            for split in sorted(self._open):
                self._close_shard(split)
            manifest = self._build_manifest(metadata or {})
            json.dumps(manifest)  # fail here, before touching out_dir, if metadata is not JSON
            if self.overwrite:
                self._remove_old()
            for shard in self._shards:
                fs.rename(fs.join(self._staging, shard["file"]), fs.join(self.out_dir, shard["file"]))
            fs.write_json_atomic(fs.join(self.out_dir, MANIFEST_NAME), manifest)
        except BaseException:
            self.abort()
            raise
        fs.rmtree(self._staging, ignore_errors=True)
        self._state = "finalized"
        self.manifest = manifest
        log.info("%s: wrote %d examples in %d shards", self.out_dir, manifest["totals"]["examples"],
                 manifest["totals"]["shards"])
        return manifest

    def abort(self, keep_progress: bool = False) -> None:
        """Drop everything this writer wrote (``.tmp`` files and new shards); write no manifest.

        ``keep_progress`` (a resumable writer interrupted by the user): keep the staging folder's
        closed shards and ``progress.json`` for the next run with the same ``resume_key``."""
        for shard in self._open.values():
            shard.discard()
            try:
                fs.remove(shard.tmp_path)
            except TFRecordsError:
                pass
        self._open.clear()
        if self._staging is not None and not keep_progress:
            fs.rmtree(self._staging, ignore_errors=True)
        try:
            if self._created_out_dir and not keep_progress and fs.isdir(self.out_dir) and not fs.listdir(self.out_dir):
                fs.rmtree(self.out_dir, ignore_errors=True)
        except TFRecordsError:
            pass
        self._state = "aborted"

    def _remove_old(self) -> None:
        """Remove the old manifest first, then the old shards and stale staging folders it recognises."""
        old_manifest = fs.join(self.out_dir, MANIFEST_NAME)
        listed = set()
        if fs.exists(old_manifest):
            try:
                listed = {s.get("file") for s in manifest_lib.load_manifest(self.out_dir)["shards"]}
            except TFRecordsError:
                listed = set()
            fs.remove(old_manifest)
        for name in fs.listdir(self.out_dir):
            entry = fs.join(self.out_dir, name)
            if entry == self._staging:
                continue
            if name.startswith(STAGING_PREFIX) and fs.isdir(entry):
                if not self._owner_alive_here(entry):   # a writer started since: its staging stays
                    fs.rmtree(entry, ignore_errors=True)
            elif (name in listed or manifest_lib.is_shard_name(name)) and not fs.isdir(entry):
                fs.remove(entry)

    def _build_manifest(self, metadata: dict) -> dict:
        totals = _SplitStats()
        splits = {}
        for split in sorted(self._splits):
            stats = self._splits[split]
            shards = [s for s in self._shards if s["split"] == split]
            splits[split] = {"examples": stats.examples, "beats": stats.beats, "shards": len(shards),
                             "bytes": sum(s["bytes"] for s in shards), "min_beats": stats.min_beats,
                             "max_beats": stats.max_beats, "label_counts": stats.labels.to_dict()}
            totals.examples += stats.examples
            totals.beats += stats.beats
            totals.labels.merge(stats.labels)
        shards = sorted(self._shards, key=lambda s: (s["split"], s["file"]))
        return {
            "schema_version": SCHEMA_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "compression": self.compression,
            "prefix": self.prefix,
            "beat_len": self._beat_len,
            "n_rr": self._n_rr,
            "label_widths": sorted(self._label_widths),
            "has_beat_labels": self._has_beat_labels,
            "fs": sorted(self._fs),
            "metadata": metadata,
            "totals": {"examples": totals.examples, "beats": totals.beats, "shards": len(shards),
                       "bytes": sum(s["bytes"] for s in shards),
                       "min_beats": min((s["min_beats"] for s in splits.values()), default=None),
                       "max_beats": max((s["max_beats"] for s in splits.values()), default=None)},
            "label_counts": totals.labels.to_dict(),
            "splits": splits,
            "shards": shards,
        }


def _stats_of(example: BeatSequence) -> dict:
    return {"record_id": example.record_id, "n_beats": example.n_beats, "beat_len": example.beat_len,
            "n_rr": example.n_rr, "fs": float(example.fs), "label": example.label, "beat_labels": example.beat_labels}


def _hashable(key):
    """A JSON key read back (lists) in the form the caller gave it (tuples), for ``done_keys``."""
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def write_examples(examples, out_dir, *, metadata: dict | None = None, progress: bool = True, total: int | None = None,
                   **writer_kwargs) -> dict:
    """Write an iterable of examples into ``out_dir``; returns the manifest.

    Items are ``BeatSequence`` objects or serialised bytes, or ``(split, item)`` pairs to route
    them to a split. ``writer_kwargs`` go to ``ShardedWriter``; a tqdm bar goes to stderr.
    """
    from tqdm import tqdm

    with ShardedWriter(out_dir, **writer_kwargs) as writer:
        for item in tqdm(examples, total=total, desc=f"write {fs.basename(out_dir)}", unit="ex", file=sys.stderr,
                         disable=not progress):
            split = None
            if isinstance(item, tuple):
                split, item = item
            if isinstance(item, (bytes, bytearray)):
                writer.write_serialized(item, split=split)
            else:
                writer.write(item, split=split)
        return writer.finalize(metadata)

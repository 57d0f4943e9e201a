"""``manifest.json``: what a folder of shards holds, written last by the writer, read first by the reader.

Layout (``SCHEMA_VERSION`` 1)::

    {
      "schema_version": 1, "created": "2025-01-01T00:00:00Z", "compression": null | "GZIP",
      "prefix": "cinc2017", "beat_len": 96, "n_rr": 3, "label_widths": [1], "has_beat_labels": false,
      "metadata": {...},                  # the caller's, verbatim: preprocessing config, "label_info", ...
      "totals": {"examples", "beats", "shards", "bytes", "min_beats", "max_beats"},
      "label_counts": {"record": {"examples": {"0": n}, "beats": {"0": n}},
                       "beat":   {"examples": {"0": n}, "beats": {"0": n}}},
      "splits": {"train": {same keys as totals + "label_counts"}, ...},
      "shards": [{"file", "split", "examples", "beats", "bytes", "sha256"}, ...]
    }

Label counts are keyed by class index (as a string, JSON keys are strings). ``record`` counts the
record-level ``label``: a one-element label is a class index, a longer one a multi-hot vector whose
positive classes are each counted; ``beats`` there is the number of beats of the examples carrying
that class. ``beat`` counts the per-beat ``beat_labels``, one per beat (``"-1"`` = unlabelled beat);
``examples`` there is the number of examples holding at least one beat of that class.

``metadata["label_info"]`` (``{"kind", "label_names", "task"}``) is where the reader finds the label
kind and the number of classes; ``label_info(manifest)`` returns it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from tfrecords_tools import fs
from tfrecords_tools.errors import TFRecordsError
from tfrecords_tools.schema import MANIFEST_NAME, SCHEMA_VERSION

GZIP = "GZIP"
COMPRESSIONS = (None, GZIP)
SHARD_SUFFIX = ".tfrecord"
GZIP_SUFFIX = ".tfrecord.gz"
# {prefix}-{split}-{index:05d}.tfrecord[.gz]; the split is the part between the last two dashes.
SHARD_NAME_RE = re.compile(r"^(?P<prefix>.+)-(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})\.tfrecord(?P<gz>\.gz)?$")
SPLIT_NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")


def shard_file_name(prefix: str, split: str, index: int, compression=None) -> str:
    return f"{prefix}-{split}-{index:05d}{GZIP_SUFFIX if compression == GZIP else SHARD_SUFFIX}"


def is_shard_name(name: str) -> bool:
    return SHARD_NAME_RE.match(name) is not None


def split_of_shard_name(name: str):
    match = SHARD_NAME_RE.match(name)
    return match.group("split") if match else None


def compression_of(path) -> str | None:
    """The compression a shard's file name says: ``"GZIP"`` for ``*.gz``, else ``None``."""
    return GZIP if str(path).endswith(".gz") else None


def normalize_compression(compression) -> str | None:
    if compression in (None, "", "NONE", "none"):
        return None
    if str(compression).upper() == GZIP:
        return GZIP
    raise ValueError(f"compression must be None or 'GZIP', got {compression!r}")


def sha256_file(path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json_atomic(path, payload: dict) -> None:
    """Write JSON through a temporary file in the same folder and a rename: never half a manifest."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)   # mkstemp makes 0600; a manifest is as readable as the shards beside it
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def manifest_path(data) -> str:
    """``data`` is a folder or the manifest file itself (a local path or a ``tf.io.gfile`` URI)."""
    path = os.fspath(data)
    return path if fs.basename(path) == MANIFEST_NAME and not fs.isdir(path) else fs.join(path, MANIFEST_NAME)


def load_manifest(data) -> dict:
    """Read and check ``manifest.json`` of folder ``data`` (or the manifest file itself).

    Raises ``TFRecordsError`` naming the file when it is missing, not JSON, not a manifest, or of
    another schema version.
    """
    path = manifest_path(data)
    folder = fs.dirname(path)
    if not fs.isdir(folder):
        raise TFRecordsError(folder, "folder does not exist")
    if not fs.exists(path):
        entries = fs.listdir(folder)
        staging = any(name.startswith(".staging-") for name in entries)
        raise TFRecordsError(path, "no manifest.json: " + (
            "the folder is empty" if not entries else
            "an interrupted writer's staging folder is here (run the same prepare command again to resume or "
            "clean it)" if staging else
            "not a finished tfrecords_tools folder (the writer writes the manifest last)"))
    try:
        manifest = json.loads(fs.read_text(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TFRecordsError(path, f"not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise TFRecordsError(path, "not a tfrecords_tools manifest (no 'shards' list)")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise TFRecordsError(path, f"schema version {version!r}, this reader reads version {SCHEMA_VERSION}; "
                                   "rewrite the shards with this version")
    for shard in manifest["shards"]:
        if not isinstance(shard, dict) or not {"file", "split", "examples", "bytes"} <= set(shard):
            raise TFRecordsError(path, f"malformed shard entry {shard!r}")
        name = shard["file"]
        # a shard is a file of this folder: "../elsewhere.tfrecord" or "/abs/x" would read outside it
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name:
            raise TFRecordsError(path, f"shard entry {name!r} is not a file name inside the folder")
    check_counts(manifest, path)
    return manifest


def check_counts(manifest: dict, path) -> None:
    """The cheap integrity check of a manifest against itself, run on every load: per-split example
    counts equal the sum of their shards', totals the sum of the splits', and label counts add up (the
    totals' are the splits' sum; one-class labels count every example once). ``verify`` recomputes
    all of them from the shards themselves."""
    shards, splits = manifest["shards"], manifest.get("splits")
    if not isinstance(splits, dict):
        return   # an older or hand-made manifest without per-split sections: nothing to cross-check
    problems = []
    for name, info in splits.items():
        listed = sum(int(s["examples"]) for s in shards if s["split"] == name)
        if int(info.get("examples", listed)) != listed:
            problems.append(f"split {name!r} says {info['examples']} examples, its shards {listed}")
    totals = manifest.get("totals") or {}
    if "examples" in totals and int(totals["examples"]) != sum(int(s["examples"]) for s in shards):
        problems.append(f"totals say {totals['examples']} examples, the shards {sum(int(s['examples']) for s in shards)}")
    if isinstance(manifest.get("label_counts"), dict) and all("label_counts" in i for i in splits.values()):
        summed = LabelCounter()
        for info in splits.values():
            summed.merge(LabelCounter.from_dict(info["label_counts"]))
        if summed.to_dict() != LabelCounter.from_dict(manifest["label_counts"]).to_dict():
            problems.append("label_counts differ from the sum of the splits' label_counts")
        if manifest.get("label_widths") == [1]:
            for name, info in splits.items():
                counted = sum(int(v) for v in info["label_counts"]["record"]["examples"].values())
                if counted != int(info.get("examples", counted)):
                    problems.append(f"split {name!r}: label_counts count {counted} examples, the split has "
                                    f"{info['examples']}")
    if problems:
        raise TFRecordsError(path, "inconsistent manifest (edited or damaged): " + "; ".join(problems[:3])
                             + "; python -m tfrecords_tools verify rechecks it against the shards")


def label_info(manifest: dict | None) -> dict:
    """``{"kind", "label_names", ...}`` the writer's caller stored, or ``{}``."""
    if not manifest:
        return {}
    info = (manifest.get("metadata") or {}).get("label_info") or {}
    return dict(info) if isinstance(info, dict) else {}


class LabelCounter:
    """Example and beat counts per label index (record labels and per-beat labels)."""

    def __init__(self):
        self.record_examples = Counter()
        self.record_beats = Counter()
        self.beat_beats = Counter()
        self.beat_examples = Counter()

    def add(self, label: np.ndarray, beat_labels: np.ndarray, n_beats: int) -> None:
        label = np.asarray(label).reshape(-1)
        if label.size == 1:
            classes = [int(label[0])]
        elif label.size > 1:
            classes = [int(i) for i in np.flatnonzero(label)]
        else:
            classes = []
        for c in classes:
            self.record_examples[c] += 1
            self.record_beats[c] += n_beats
        if np.size(beat_labels):
            values, counts = np.unique(np.asarray(beat_labels).reshape(-1), return_counts=True)
            for v, n in zip(values.tolist(), counts.tolist()):
                self.beat_beats[int(v)] += int(n)
                self.beat_examples[int(v)] += 1

    @classmethod
    def from_dict(cls, values: dict) -> "LabelCounter":
        """The inverse of ``to_dict`` (a manifest's ``label_counts``)."""
        counter = cls()
        for attribute, (level, kind) in (("record_examples", ("record", "examples")), ("record_beats", ("record", "beats")),
                                         ("beat_examples", ("beat", "examples")), ("beat_beats", ("beat", "beats"))):
            table = ((values or {}).get(level) or {}).get(kind) or {}
            getattr(counter, attribute).update({int(k): int(v) for k, v in table.items() if int(v)})
        return counter

    def merge(self, other: "LabelCounter") -> None:
        for name in ("record_examples", "record_beats", "beat_beats", "beat_examples"):
            getattr(self, name).update(getattr(other, name))

    def to_dict(self) -> dict:
        def keyed(counter):
            return {str(k): int(counter[k]) for k in sorted(counter)}
        return {"record": {"examples": keyed(self.record_examples), "beats": keyed(self.record_beats)},
                "beat": {"examples": keyed(self.beat_examples), "beats": keyed(self.beat_beats)}}

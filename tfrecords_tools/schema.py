"""The TFRecord schema of a beat sequence: the one place that names its features.

Version 1. One ``tf.train.Example`` per sequence (a record, or a window of one):

=================  ===========  ==========================================================
feature            type         meaning
=================  ===========  ==========================================================
schema_version     int64        ``SCHEMA_VERSION``; a reader refuses any other
record_id          bytes        id of the source record
source             bytes        data set name
n_beats, beat_len  int64        shape of ``beats``
n_rr               int64        RR features per beat (0 when off)
beats              float list   ``n_beats * beat_len`` beat waveforms, row-major
rr                 float list   ``n_beats * n_rr`` RR features (seconds)
rpeaks             int64 list   R-peak sample positions (at ``fs``) of each beat
fs                 float        sampling rate of the beats
label              int64 list   record label: ``[class index]`` or a multi-hot vector; empty if unlabelled
beat_labels        int64 list   per-beat class index (-1 = unlabelled); empty if none
segment_start_s    float        start of this example in the record (windows of long records)
signal             float list   optional: the cleaned, resampled (``fs``), normalised continuous
                                signal of the example's span, from ``segment_start_s`` (written by
                                ``prepare --raw-signal``; absent otherwise, and absent in folders
                                written before it existed: it reads as an empty list)
=================  ===========  ==========================================================

``signal`` is optional and absent by default, so version 1 still describes both kinds of
example (the version is a single integer that readers require to match; there is no minor version).

This module knows beat sequences, not ECG data sets: label meanings live in the manifest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
IGNORE_LABEL = -1


@dataclass
class BeatSequence:
    """One example as numpy arrays, before serialisation and after ``decode_numpy``."""

    record_id: str
    beats: np.ndarray                       # float32 (n_beats, beat_len)
    rr: np.ndarray                          # float32 (n_beats, n_rr); n_rr may be 0
    rpeaks: np.ndarray                      # int64 (n_beats,)
    fs: float
    source: str = ""
    label: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    beat_labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    segment_start_s: float = 0.0
    signal: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))  # optional, at ``fs``
    record_features: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))  # optional, NaN allowed

    def __post_init__(self):
        self.beats = np.asarray(self.beats, np.float32)
        if self.beats.ndim != 2:
            raise ValueError(f"{self.record_id}: beats must be 2-D (n_beats, beat_len), got shape {self.beats.shape}")
        n = self.beats.shape[0]
        self.rr = np.asarray(self.rr, np.float32).reshape(n, -1) if np.size(self.rr) else np.zeros((n, 0), np.float32)
        self.rpeaks = np.asarray(self.rpeaks, np.int64).reshape(-1)
        self.label = np.atleast_1d(np.asarray(self.label, np.int64))
        self.beat_labels = np.asarray(self.beat_labels, np.int64).reshape(-1)
        if self.rpeaks.shape[0] != n:
            raise ValueError(f"{self.record_id}: {self.rpeaks.shape[0]} R-peaks for {n} beats")
        if self.beat_labels.size and self.beat_labels.shape[0] != n:
            raise ValueError(f"{self.record_id}: {self.beat_labels.shape[0]} beat labels for {n} beats")
        if not np.all(np.isfinite(self.beats)) or not np.all(np.isfinite(self.rr)):
            raise ValueError(f"{self.record_id}: beats or RR features contain NaN or inf")
        self.signal = np.asarray(self.signal, np.float32).reshape(-1)
        if not np.all(np.isfinite(self.signal)):
            raise ValueError(f"{self.record_id}: signal contains NaN or inf")
        self.record_features = np.asarray(self.record_features, np.float32).reshape(-1)

    @property
    def n_beats(self) -> int:
        return int(self.beats.shape[0])

    @property
    def beat_len(self) -> int:
        return int(self.beats.shape[1])

    @property
    def n_rr(self) -> int:
        return int(self.rr.shape[1])


def _bytes(value: bytes):
    import tensorflow as tf
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values):
    import tensorflow as tf
    return tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(values, np.int64).reshape(-1).tolist()))


def _floats(values):
    import tensorflow as tf
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32).reshape(-1)))


def encode(example: BeatSequence) -> bytes:
    """Serialise one ``BeatSequence`` to ``tf.train.Example`` bytes."""
    import tensorflow as tf
    feature = {
        "schema_version": _ints([SCHEMA_VERSION]),
        "record_id": _bytes(example.record_id.encode("utf-8")),
        "source": _bytes(example.source.encode("utf-8")),
        "n_beats": _ints([example.n_beats]),
        "beat_len": _ints([example.beat_len]),
        "n_rr": _ints([example.n_rr]),
        "beats": _floats(example.beats),
        "rr": _floats(example.rr),
        "rpeaks": _ints(example.rpeaks),
        "fs": _floats([example.fs]),
        "label": _ints(example.label),
        "beat_labels": _ints(example.beat_labels),
        "segment_start_s": _floats([example.segment_start_s]),
    }
    if example.signal.size:   # optional: examples without it serialise exactly as before
        feature["signal"] = _floats(example.signal)
    if example.record_features.size:   # optional, like signal
        feature["record_features"] = _floats(example.record_features)
    # deterministic: the feature map in sorted key order, so identical examples give identical bytes (and
    # shard SHA-256) in every process; the default order of a protobuf map may differ between runs.
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def feature_spec() -> dict:
    """The ``tf.io.parse_single_example`` spec of schema version ``SCHEMA_VERSION``."""
    import tensorflow as tf
    return {
        "schema_version": tf.io.FixedLenFeature([], tf.int64),
        "record_id": tf.io.FixedLenFeature([], tf.string),
        "source": tf.io.FixedLenFeature([], tf.string),
        "n_beats": tf.io.FixedLenFeature([], tf.int64),
        "beat_len": tf.io.FixedLenFeature([], tf.int64),
        "n_rr": tf.io.FixedLenFeature([], tf.int64),
        "beats": tf.io.VarLenFeature(tf.float32),
        "rr": tf.io.VarLenFeature(tf.float32),
        "rpeaks": tf.io.VarLenFeature(tf.int64),
        "fs": tf.io.FixedLenFeature([], tf.float32),
        "label": tf.io.VarLenFeature(tf.int64),
        "beat_labels": tf.io.VarLenFeature(tf.int64),
        "segment_start_s": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
        "signal": tf.io.VarLenFeature(tf.float32),   # optional: empty when absent
        "record_features": tf.io.VarLenFeature(tf.float32),   # optional: empty when absent
    }


def parse(serialized):
    """Parse one serialised example into dense tensors: beats (n, L), rr (n, R), rpeaks (n,), ..."""
    import tensorflow as tf
    raw = tf.io.parse_single_example(serialized, feature_spec())
    n_beats = tf.cast(raw["n_beats"], tf.int32)
    beat_len = tf.cast(raw["beat_len"], tf.int32)
    n_rr = tf.cast(raw["n_rr"], tf.int32)
    return {
        "schema_version": raw["schema_version"],
        "record_id": raw["record_id"],
        "source": raw["source"],
        "beats": tf.reshape(tf.sparse.to_dense(raw["beats"]), tf.stack([n_beats, beat_len])),
        "rr": tf.reshape(tf.sparse.to_dense(raw["rr"]), tf.stack([n_beats, n_rr])),
        "rpeaks": tf.sparse.to_dense(raw["rpeaks"]),
        "fs": raw["fs"],
        "label": tf.sparse.to_dense(raw["label"]),
        "beat_labels": tf.sparse.to_dense(raw["beat_labels"]),
        "segment_start_s": raw["segment_start_s"],
        "signal": tf.sparse.to_dense(raw["signal"]),
        "record_features": tf.sparse.to_dense(raw["record_features"]),
    }


def decode_numpy(serialized: bytes) -> BeatSequence:
    """Parse one serialised example back into a ``BeatSequence`` (for tests and ``inspect``)."""
    import tensorflow as tf
    ex = tf.train.Example.FromString(serialized)
    f = ex.features.feature
    n, length, n_rr = (f["n_beats"].int64_list.value[0], f["beat_len"].int64_list.value[0], f["n_rr"].int64_list.value[0])
    return BeatSequence(
        record_id=f["record_id"].bytes_list.value[0].decode("utf-8"),
        source=f["source"].bytes_list.value[0].decode("utf-8"),
        beats=np.asarray(f["beats"].float_list.value, np.float32).reshape(n, length),
        rr=np.asarray(f["rr"].float_list.value, np.float32).reshape(n, n_rr),
        rpeaks=np.asarray(f["rpeaks"].int64_list.value, np.int64),
        fs=float(f["fs"].float_list.value[0]),
        label=np.asarray(f["label"].int64_list.value, np.int64),
        beat_labels=np.asarray(f["beat_labels"].int64_list.value, np.int64),
        segment_start_s=float(f["segment_start_s"].float_list.value[0]),
        signal=np.asarray(f["signal"].float_list.value, np.float32) if "signal" in f else np.zeros((0,), np.float32),
        record_features=(np.asarray(f["record_features"].float_list.value, np.float32) if "record_features" in f
                         else np.zeros((0,), np.float32)),
    )

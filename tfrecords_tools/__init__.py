"""Sharded TFRecords of heartbeat sequences: schema, writer, tf.data reader and a CLI.

Knows beat sequences, not ECG data sets. Depends on TensorFlow and numpy only.
"""
from tfrecords_tools.schema import SCHEMA_VERSION, BeatSequence

__all__ = ["SCHEMA_VERSION", "BeatSequence"]

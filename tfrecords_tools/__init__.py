"""Sharded TFRecords of heartbeat sequences: schema, writer, tf.data reader and a CLI.

Knows beat sequences, not ECG data sets. Depends on TensorFlow and numpy only.

    from tfrecords_tools import ShardedWriter, make_dataset
    python -m tfrecords_tools inspect DIR | verify DIR
"""
from tfrecords_tools import quiet as _quiet

_quiet.install()  # before any TensorFlow import: quiet C++ start-up logs unless TF_CPP_MIN_LOG_LEVEL is set

from tfrecords_tools.errors import TFRecordsError  # noqa: E402
from tfrecords_tools.manifest import label_info, load_manifest  # noqa: E402
from tfrecords_tools.reader import (count_examples, dataset_spec, input_fn_for_strategy, list_shards,  # noqa: E402
                                    make_dataset, read_examples)
from tfrecords_tools.schema import IGNORE_LABEL, MANIFEST_NAME, SCHEMA_VERSION, BeatSequence, decode_numpy, encode, parse  # noqa: E402
from tfrecords_tools.writer import ShardedWriter, write_examples  # noqa: E402

__all__ = [
    "SCHEMA_VERSION", "MANIFEST_NAME", "IGNORE_LABEL", "BeatSequence", "encode", "parse", "decode_numpy",
    "TFRecordsError", "ShardedWriter", "write_examples", "load_manifest", "label_info", "list_shards",
    "make_dataset", "count_examples", "dataset_spec", "input_fn_for_strategy", "read_examples",
]

"""The error tfrecords_tools raises on bad input: every message names the file (or folder, or pattern)."""
from __future__ import annotations


class TFRecordsError(ValueError):
    """A shard, manifest, folder or pattern cannot be used.

    ``path`` is the offending file (or folder / glob pattern); ``str(error)`` is ``"{path}: {message}"``.
    """

    def __init__(self, path, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{path}: {message}")

    def __reduce__(self):  # picklable across process pools
        return (type(self), (self.path, self.message))

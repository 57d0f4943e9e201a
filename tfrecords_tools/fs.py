"""File access through ``tf.io.gfile``: local paths and every filesystem URI TensorFlow knows
(``gs://``, ``s3://`` with tensorflow-io's plugins, ``hdfs://``, the in-memory ``ram://``).

Paths are strings (``pathlib.Path`` would turn ``gs://b/x`` into ``gs:/b/x``). Local paths go
through gfile too, so a test on ``ram://`` exercises the same code as a run on a bucket.

Atomicity: ``rename`` is atomic on local and POSIX-shared filesystems and on ``ram://``. On object
stores (``gs://``, ``s3://``) gfile renames by copy then delete, so a rename is not atomic there;
the writers still write their commit marker (``manifest.json``, ``model.keras``...) last, so a
reader never sees a marker that names a missing file, but a crash can leave partial files beside
it. ``is_object_store`` tells which case a path is in.

Errors (no credentials, a bucket that does not exist, a read-only target) come back as
``FileSystemError`` naming the path and the operation, never as a TensorFlow traceback.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import uuid

from tfrecords_tools.errors import TFRecordsError

OBJECT_STORE_SCHEMES = ("gs", "s3", "az", "abfs", "oss")


class FileSystemError(TFRecordsError):
    """A filesystem operation failed; the message names the path (a ``TFRecordsError``, so a
    ``ValueError``: the command lines report it as an error, without a traceback)."""

    def __init__(self, path, message):
        super().__init__(path, message)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def scheme(path) -> str:
    path = os.fspath(path)
    return path.split("://", 1)[0].lower() if "://" in path else ""


def is_remote(path) -> bool:
    """True for a URI (``gs://``, ``ram://``, ...), False for a local path."""
    return bool(scheme(path))


def is_object_store(path) -> bool:
    return scheme(path) in OBJECT_STORE_SCHEMES


def join(path, *parts) -> str:
    path = os.fspath(path)
    if is_remote(path):
        return posixpath.join(path, *parts)
    return os.path.join(path, *parts)


def basename(path) -> str:
    return posixpath.basename(os.fspath(path).rstrip("/"))


def dirname(path) -> str:
    path = os.fspath(path).rstrip("/")
    return posixpath.dirname(path) if is_remote(path) else os.path.dirname(path)


def _wrap(path, action, exc):
    detail = getattr(exc, "message", None) or str(exc)
    hint = ""
    if scheme(path) == "gs" and ("credential" in detail.lower() or "permission" in detail.lower()
                                 or "401" in detail or "403" in detail):
        hint = "; check the credentials (gcloud auth application-default login) and the bucket's permissions"
    first_line = detail.strip().splitlines()[0] if detail.strip() else ""
    return FileSystemError(path, f"cannot {action} ({type(exc).__name__}: {first_line}{hint})")


def _call(path, action, fn, *args, **kwargs):
    import tensorflow as tf

    try:
        return fn(*args, **kwargs)
    except tf.errors.OpError as exc:
        raise _wrap(path, action, exc) from None


def exists(path) -> bool:
    return _call(path, "check whether it exists", _gfile().exists, os.fspath(path))


def isdir(path) -> bool:
    return _call(path, "check whether it is a folder", _gfile().isdir, os.fspath(path))


def listdir(path) -> list:
    """Entry names (no trailing '/')."""
    return sorted(name.rstrip("/") for name in _call(path, "list the folder", _gfile().listdir, os.fspath(path)))


def glob(pattern) -> list:
    return sorted(_call(pattern, "expand the pattern", _gfile().glob, os.fspath(pattern)))


def has_magic(path) -> bool:
    return any(c in os.fspath(path) for c in "*?[")


def makedirs(path) -> None:
    _call(path, "create the folder", _gfile().makedirs, os.fspath(path))


def remove(path) -> None:
    _call(path, "delete the file", _gfile().remove, os.fspath(path))


def rmtree(path, ignore_errors: bool = False) -> None:
    try:
        _call(path, "delete the folder", _gfile().rmtree, os.fspath(path))
    except FileSystemError:
        if not ignore_errors:
            raise


def rename(src, dst, overwrite: bool = True) -> None:
    """Atomic on local filesystems and ``ram://``; copy + delete on object stores (module docstring)."""
    _call(dst, f"move {src} here", _gfile().rename, os.fspath(src), os.fspath(dst), overwrite=overwrite)


def size(path) -> int:
    return int(_call(path, "read its size", _gfile().stat, os.fspath(path)).length)


def open(path, mode="rb"):  # noqa: A001 - the gfile counterpart of open()
    return _call(path, f"open it ({mode})", _gfile().GFile, os.fspath(path), mode)


def read_bytes(path) -> bytes:
    with open(path, "rb") as fh:
        return _call(path, "read it", fh.read)


def read_text(path) -> str:
    return read_bytes(path).decode("utf-8")


def sha256(path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = _call(path, "read it", fh.read, chunk_size)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def write_bytes_atomic(path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, then rename it over ``path``."""
    path = os.fspath(path)
    tmp = join(dirname(path), f".{basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            _call(tmp, "write it", fh.write, payload)
            if not is_remote(tmp):
                fh.flush()
        rename(tmp, path, overwrite=True)
    except BaseException:
        try:
            if _gfile().exists(tmp):
                _gfile().remove(tmp)
        except Exception:  # noqa: BLE001 - already failing
            pass
        raise


def write_json_atomic(path, payload) -> None:
    write_bytes_atomic(path, (json.dumps(payload, indent=2) + "\n").encode("utf-8"))


def check_writable_dir(path) -> None:
    """Create ``path`` if needed and write/delete a probe file: a read-only target, a missing bucket
    or missing credentials fail here, before any work, with a ``FileSystemError`` naming the path."""
    makedirs(path)
    probe = join(path, f".write-probe-{uuid.uuid4().hex[:8]}")
    with open(probe, "wb") as fh:
        _call(probe, "write it", fh.write, b"")
    remove(probe)


def walk_files(root) -> list:
    """Relative paths (with '/') of every file under ``root``."""
    out = []
    for folder, _, files in _call(root, "list the folder tree", lambda: list(_gfile().walk(os.fspath(root)))):
        rel = os.path.relpath(folder, os.fspath(root)) if not is_remote(root) else folder[len(os.fspath(root)):]
        rel = rel.strip("/").replace(os.sep, "/")
        rel = "" if rel == "." else rel
        out.extend(f"{rel}/{name}" if rel else name for name in files)
    return sorted(out)


def copy_tree(src, dst, *, last=()) -> list:
    """Copy every file of ``src`` into ``dst`` (created), overwriting; the names in ``last`` (relative
    paths, e.g. a manifest or a report) are copied after all the others, each through a temporary
    name and a rename. Returns the relative paths copied. Not atomic as a whole on any filesystem."""
    files = walk_files(src)
    ordered = [f for f in files if f not in last] + [f for f in last if f in files]
    for rel in ordered:
        target = join(dst, *rel.split("/"))
        makedirs(dirname(target))
        if rel in last:
            tmp = target + f".{uuid.uuid4().hex[:8]}.tmp"
            _call(target, "copy a file here", _gfile().copy, join(src, *rel.split("/")), tmp, overwrite=True)
            rename(tmp, target, overwrite=True)
        else:
            _call(target, "copy a file here", _gfile().copy, join(src, *rel.split("/")), target, overwrite=True)
    return ordered

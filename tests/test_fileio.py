"""ecgsl_keras.fileio.atomic_path and the writers built on it: a failed write keeps the previous file (or leaves
none), never a truncated one, and names the file; files get the usual mode, not mkstemp's 0600."""
import errno
import os
import stat

import numpy as np
import pytest

from ecgsl_keras import fileio
from ecgsl_keras.errors import WriteError


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_path_keeps_the_old_file_when_the_write_fails(tmp_path):
    path = tmp_path / "metrics.json"
    fileio.write_json(path, {"a": 1})
    with pytest.raises(WriteError, match=f"{path}: cannot write .No space left on device.") as info:
        with fileio.atomic_path(path) as tmp:
            tmp.write_text('{"a": 2, "trunc')
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.reason == "write_failed"
    assert fileio.read_json(path) == {"a": 1} and os.listdir(tmp_path) == ["metrics.json"]


def test_written_files_have_the_umask_mode_not_0600(tmp_path):
    fileio.write_json(tmp_path / "config.json", {"a": 1})
    expected = 0o666 & ~fileio._umask()
    assert _mode(tmp_path / "config.json") == expected != 0o600


def _tiny_model():
    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _save_then_fill_the_disk(self, filepath, *args, **kwargs):
    with open(filepath, "wb") as fh:
        fh.write(b"PK\x03\x04 half a zip")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_checkpoint_and_final_save_keep_the_previous_model_on_a_full_disk(tmp_path, monkeypatch):
    import keras

    from ecgsl_keras.modeling.files import load_keras_model
    from ecgsl_keras.training.callbacks import AtomicModelCheckpoint, save_model_atomic

    model = _tiny_model()
    path = tmp_path / "model.keras"
    save_model_atomic(model, path)
    before = path.read_bytes()
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[AtomicModelCheckpoint(str(path))])   # a real save works
    assert load_keras_model(path).count_params() == model.count_params()
    before = path.read_bytes()

    monkeypatch.setattr(keras.Model, "save", _save_then_fill_the_disk)
    with pytest.raises(WriteError, match="No space left"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[AtomicModelCheckpoint(str(path))])
    with pytest.raises(WriteError, match="No space left"):
        save_model_atomic(model, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.keras"]

"""Without the optional LiteRT package (``ai_edge_litert``) a TFLite model gives an error naming the
``litert`` extra, not a ModuleNotFoundError traceback."""
import sys

import pytest

from ecgsl_keras.errors import MissingExtraError


@pytest.fixture
def no_litert(monkeypatch):
    for name in [m for m in sys.modules if m == "ai_edge_litert" or m.startswith("ai_edge_litert.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)   # "import ai_edge_litert" -> ModuleNotFoundError


def test_tflite_backend_without_litert_names_the_extra(no_litert, tmp_path):
    from ecgsl_keras.serving.inference import _TFLiteBackend

    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[litert\]"') as info:
        _TFLiteBackend(tmp_path / "model_float32.tflite")
    assert "model_float32.tflite" in str(info.value)


# export without LiteRT end to end (files written, SavedModel parity, the extra named):
# tests/test_remote_storage.py::test_prepare_train_export_on_ram_without_litert

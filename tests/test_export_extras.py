"""export without the optional LiteRT package (``ai_edge_litert``): the files are written, the
SavedModel parity is reported, and the report says that the TFLite parity needs the ``litert`` extra."""
import json
import sys

import pytest

from ecgsl_keras.errors import MissingExtraError


@pytest.fixture
def no_litert(monkeypatch):
    for name in [m for m in sys.modules if m == "ai_edge_litert" or m.startswith("ai_edge_litert.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)   # "import ai_edge_litert" -> ModuleNotFoundError


def test_tflite_backend_without_litert_names_the_extra(no_litert, tmp_path):
    from ecgsl_keras.inference import _TFLiteBackend

    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[litert\]"') as info:
        _TFLiteBackend(tmp_path / "model_float32.tflite")
    assert "model_float32.tflite" in str(info.value)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_export_without_litert_writes_files_and_saved_model_parity(no_litert, tmp_path, capsys, caplog):
    from ecgsl_keras.export import main

    out = tmp_path / "export"
    rc = main(["--model", "cinc2017", "--out", str(out), "--tflite", "float32", "--examples", "4"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "Traceback" not in captured.err
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert (out / "model_float32.tflite").stat().st_size > 100_000
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert report["parity"]["saved_model"]["examples"] == 4
    assert report["parity"]["saved_model"]["max_abs_diff_probabilities"] < 1e-4
    assert "tflite_float32" not in report["parity"]
    assert report["tflite_parity"].startswith("not checked") and '".[litert]"' in report["tflite_parity"]
    assert any('".[litert]"' in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

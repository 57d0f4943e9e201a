"""ecgsl_keras.serving.trust: a SavedModel whose signature also writes a file, and a .tflite with a custom (Flex)
operator, are refused before they are loaded; --trust-model loads them; this package's own exports pass."""
import json

import pytest

from ecgsl_keras import tasks
from ecgsl_keras.cli import predict as predict_cli
from ecgsl_keras.config import ExperimentConfig
from ecgsl_keras.errors import ConfigError
from ecgsl_keras.serving import trust

RECORD = "A00205"


def _write_file_model(folder, target):
    """A SavedModel with the package's serving signature that also writes ``target`` when called."""
    import tensorflow as tf

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="beats"),
                                      tf.TensorSpec([None, None, None], tf.float32, name="rr"),
                                      tf.TensorSpec([None, None], tf.bool, name="padding_mask")])
        def serve(self, beats, rr, padding_mask):
            with tf.control_dependencies([tf.io.write_file(str(target), "ran")]):
                batch = tf.shape(beats)[0]
                return {"probabilities": tf.nn.softmax(tf.zeros([batch, 4])),
                        "attention_weights": tf.cast(padding_mask, tf.float32)}

    model = Model()
    tf.saved_model.save(model, str(folder), signatures={"serving_default": model.serve})
    (folder / "config.json").write_text(json.dumps({"experiment_config": ExperimentConfig().to_dict(),
                                                    "task": tasks.CINC2017.to_dict()}))
    return model


def test_savedmodel_writing_a_file_is_refused_unless_trusted(tmp_path, cinc_dir, capsys):
    folder, target = tmp_path / "evil", tmp_path / "written.txt"
    _write_file_model(folder, target)
    assert trust.saved_model_ops(folder)["WriteFile"].startswith("__inference_serve")

    status = predict_cli.main(["--model", str(folder), "--record", str(cinc_dir / RECORD)])
    err = capsys.readouterr().err
    assert status == 2 and f"error: {folder}: " in err and "WriteFile" in err and "--trust-model" in err
    assert "Traceback" not in err and not target.exists()   # refused before anything ran

    status = predict_cli.main(["--model", str(folder), "--record", str(cinc_dir / RECORD), "--trust-model"])
    assert status == 0 and target.read_text() == "ran"    # the flag loads it: it is a program, and it ran


def test_saver_ops_of_a_plain_savedmodel_are_not_counted(tmp_path):
    """Every SavedModel holds SaveV2/RestoreV2 checkpoint functions that loading never runs."""
    import tensorflow as tf

    class Plain(tf.Module):
        def __init__(self):
            self.w = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x):
            return {"y": x * self.w}

    model = Plain()
    tf.saved_model.save(model, str(tmp_path / "plain"), signatures={"serving_default": model.serve})
    ops = trust.saved_model_ops(tmp_path / "plain")
    assert "Mul" in ops and "SaveV2" not in ops and "RestoreV2" not in ops
    trust.check_saved_model(tmp_path / "plain")


def test_damaged_saved_model_pb_is_a_clear_error(tmp_path):
    folder = tmp_path / "sm"
    folder.mkdir()
    with pytest.raises(ConfigError, match="no saved_model.pb"):
        trust.check_saved_model(folder)
    (folder / "saved_model.pb").write_bytes(b"\xff\x00garbage" * 10)
    with pytest.raises(ConfigError, match="not a readable SavedModel"):
        trust.check_saved_model(folder)


def test_tflite_with_a_flex_op_is_refused(tmp_path):
    pytest.importorskip("ai_edge_litert")
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([4], tf.float32)])
    def serve(x):
        return {"y": tf.strings.to_number(tf.strings.as_string(x))}   # string ops exist only as Flex ops

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], serve)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    path = tmp_path / "flex.tflite"
    path.write_bytes(converter.convert())
    assert any(name.startswith("Flex") for name in trust.tflite_custom_ops(path))
    with pytest.raises(ConfigError, match="custom operators") as info:
        trust.check_tflite(path)
    assert info.value.reason == trust.UNTRUSTED and str(path) in str(info.value)
    trust.check_tflite(path, trust=True)

"""ecgsl_keras.serving.tflite_file: the strip of the tables LiteRT never reads leaves every output bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from ecgsl_keras.errors import ConfigError
from ecgsl_keras.serving import tflite_file

pytestmark = pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")


def _convert(fmt: str) -> bytes:
    """A small graph with what the export's files hold: weights (int8 in dynamic range: over 1024 values), a bias,
    activations, an int32 and a bool output; its signature ``serving_default``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    weights = tf.constant(rng.standard_normal((64, 48)).astype(np.float32))
    bias = tf.constant(rng.standard_normal(48).astype(np.float32))

    class Graph(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, 64), tf.float32, name="x")])
        def serve(self, x):
            h = tf.nn.relu(tf.matmul(x, weights) + bias)
            return {"h": tf.nn.softmax(h), "top": tf.argmax(h, axis=-1, output_type=tf.int32), "any": h[:, 0] > 0.5}

    graph = Graph()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([graph.serve.get_concrete_function()], graph)
    if fmt == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _outputs(flatbuffer: bytes, x: np.ndarray) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    runner = interpreter.get_signature_runner()
    return {k: np.array(v) for k, v in runner(x=x).items()}


@pytest.mark.parametrize("fmt", ["float32", "int8"])
def test_strip_keeps_every_output_and_constant_and_makes_the_file_smaller(fmt):
    original = _convert(fmt)
    stripped = tflite_file.strip_empty_tables(original)
    assert len(stripped) < len(original)
    before, after = tflite_file.describe(original), tflite_file.describe(stripped)
    for key in ("operators", "tensors", "constant_bytes", "constants_sha256", "signatures"):
        assert before[key] == after[key], key
    assert after["buffers"] < before["buffers"] and after["quantization_tables"] < before["quantization_tables"]
    # int8: the weights' scales stay (a real quantization table); float32: no table left
    assert after["quantization_tables"] == (1 if fmt == "int8" else 0)
    x = np.random.default_rng(1).standard_normal((5, 64)).astype(np.float32)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    out_b, out_a = _outputs(original, x), _outputs(stripped, x)
    assert out_b.keys() == out_a.keys() == {"h", "top", "any"}
    for key in out_b:
        assert out_b[key].dtype == out_a[key].dtype and out_b[key].tobytes() == out_a[key].tobytes(), key
    assert tflite_file.strip_empty_tables(stripped) == stripped      # idempotent


def test_strip_keeps_buffer_zero_empty_and_every_other_buffer_holding_data():
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite_file.strip_empty_tables(_convert("int8"))))
    sizes = [0 if b.data is None else len(b.data) for b in model.buffers]
    assert sizes[0] == 0 and all(sizes[1:])
    metadata = {m.name: m.buffer for m in model.metadata}
    assert b"min_runtime_version" in metadata and all(0 < b < len(sizes) for b in metadata.values())
    tensors = model.subgraphs[0].tensors
    assert all(0 <= t.buffer < len(sizes) for t in tensors) and sum(t.buffer == 0 for t in tensors) >= 3


def test_strip_file_strips_in_place_and_names_the_file_it_refuses(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(_convert("float32"))
    size = path.stat().st_size
    assert tflite_file.strip_file(path) == {"bytes_before": size, "bytes_after": path.stat().st_size}
    assert path.stat().st_size < size and [p.name for p in tmp_path.iterdir()] == ["model.tflite"]
    with pytest.raises(ConfigError, match="missing.tflite: expected an existing .tflite file") as missing:
        tflite_file.strip_file(tmp_path / "missing.tflite")
    assert missing.value.reason == "missing_file"
    bad = tmp_path / "notes.tflite"
    bad.write_text("not a model")
    with pytest.raises(ConfigError, match="notes.tflite: not a TFLite flatbuffer") as corrupt:
        tflite_file.strip_file(bad)
    assert corrupt.value.reason == "corrupt_file" and bad.read_text() == "not a model"

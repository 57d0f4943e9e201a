"""Post-processing of a TFLite file after the converter: tables the runtime never reads, removed.

The converter writes, for a model of N tensors,

* a ``QuantizationParameters`` table on every tensor, empty (no scale, zero point, min, max or details) on each
  float / int32 / bool tensor: LiteRT reads a tensor without scales as not quantized, whether the table is empty
  or absent;
* one ``Buffer`` per tensor, empty for each tensor without constant data (activations, inputs, outputs): LiteRT
  gives such a tensor arena memory whichever empty buffer it names, and buffer 0 is the empty buffer the schema
  keeps for exactly this.

``strip_empty_tables`` drops the empty quantization tables, points every data-less tensor at buffer 0 and keeps only
the buffers that hold data (renumbered in their order) or that the model's metadata names. Operators, constants,
shapes, types and the signatures are untouched, so the file computes the same outputs bit for bit (checked on the
``cinc2017-edge`` files by ``experiments/edge/strip_identity.py``; sizes before and after in
``benchmarks/results/edge_strip.json``).
"""
from __future__ import annotations

from pathlib import Path

from ecgsl_keras.errors import ConfigError
from ecgsl_keras.fileio import atomic_path

TFLITE_IDENTIFIER = b"TFL3"


def _empty_quantization(q) -> bool:
    return all(v is None or len(v) == 0 for v in (q.scale, q.zeroPoint, q.min, q.max)) and q.details is None \
        and not q.quantizedDimension


def _has_data(buffer) -> bool:
    return buffer.data is not None and len(buffer.data) > 0


def strip_model(model) -> dict:
    """Strip a ``schema_py_generated.ModelT`` in place (see the module); returns what was removed. A model whose
    buffers lie outside the flatbuffer (``offset``/``size``, the converter's form for files over 2 GB) is left as it
    is: packing the object again would lose their data."""
    if any(getattr(b, "offset", 0) > 1 for b in model.buffers or []):
        return {"quantization_tables": 0, "buffers": 0, "skipped": "buffers stored outside the flatbuffer"}
    tables = 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            if tensor.quantization is not None and _empty_quantization(tensor.quantization):
                tensor.quantization, tables = None, tables + 1
    named = {m.buffer for m in model.metadata or []} | set(model.metadataBuffer or [])
    # buffer 0 stays first (the schema's empty sentinel); then the buffers with data, and any the metadata names
    keep = [0] + [b for b in range(1, len(model.buffers)) if _has_data(model.buffers[b]) or b in named]
    index = {b: i for i, b in enumerate(keep)}
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.buffer = index.get(tensor.buffer, 0)    # a dropped buffer was empty: buffer 0 says the same
    for m in model.metadata or []:
        m.buffer = index[m.buffer]
    if model.metadataBuffer is not None:
        model.metadataBuffer = [index[b] for b in model.metadataBuffer]
    dropped = len(model.buffers) - len(keep)
    model.buffers = [model.buffers[b] for b in keep]
    return {"quantization_tables": tables, "buffers": dropped}


def strip_empty_tables(flatbuffer: bytes) -> bytes:
    """The TFLite flatbuffer without its empty quantization tables and empty buffers (see the module); the same
    bytes if there is nothing to strip. Idempotent."""
    from tensorflow.lite.tools import flatbuffer_utils

    if len(flatbuffer) < 8 or flatbuffer[4:8] != TFLITE_IDENTIFIER:
        raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    removed = strip_model(model)
    if not removed["quantization_tables"] and not removed["buffers"]:
        return bytes(flatbuffer)
    return flatbuffer_utils.convert_object_to_bytearray(model)


def strip_file(path) -> dict:
    """Strip the TFLite file at ``path`` in place; returns its size before and after."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "missing_file", "expected an existing .tflite file")
    data = path.read_bytes()
    try:
        stripped = strip_empty_tables(data)
    except ValueError as exc:
        raise ConfigError(path, "corrupt_file", str(exc)) from None
    if stripped != data:
        with atomic_path(path) as tmp:
            tmp.write_bytes(stripped)
    return {"bytes_before": len(data), "bytes_after": len(stripped)}


def describe(flatbuffer: bytes) -> dict:
    """What a strip must keep: operator counts by name (every subgraph: a WHILE body's ops count), tensors, subgraphs,
    constant bytes (summed over the tensors, and their SHA-256 in tensor order), signatures (key, inputs, outputs); and
    the tables it removes (quantization tables, buffers)."""
    import collections
    import hashlib

    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    # an op code the schema cannot name counts as "?" (names sort as strings)
    names = [flatbuffer_utils.opcode_to_name(model, i) or "?" for i in range(len(model.operatorCodes))]
    ops = collections.Counter(names[op.opcodeIndex] for sg in model.subgraphs for op in sg.operators)
    constants = hashlib.sha256()
    constant_bytes = 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            data = model.buffers[tensor.buffer].data
            data = bytes(data) if data is not None else b""
            constant_bytes += len(data)
            constants.update(len(data).to_bytes(8, "little") + data)
    return {"bytes": len(flatbuffer), "operators": dict(sorted(ops.items())), "tensors": sum(len(sg.tensors) for sg in
                                                                                           model.subgraphs),
            "constant_bytes": constant_bytes, "constants_sha256": constants.hexdigest(),
            "signatures": [(s.signatureKey.decode() if s.signatureKey else None, len(s.inputs or []),
                            len(s.outputs or [])) for s in model.signatureDefs or []],
            "subgraphs": len(model.subgraphs),
            "quantization_tables": sum(t.quantization is not None for sg in model.subgraphs for t in sg.tensors),
            "buffers": len(model.buffers)}

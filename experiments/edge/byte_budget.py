"""Issue 21: where the bytes of the ``cinc2017-edge`` end-to-end int8 TFLite file go (a measurement that plans the
next sessions; nothing is kept or changed here). At each of ``gap_port.py``'s ``--points`` (default: ``off`` = the
shipped export, and ``on_post_wide``) the graph is built as ``serving/edge.py`` builds it, with the graph's steps
wrapped in ``tf.name_scope``s by this script only (names the converter writes into the tensors and
``strip_tensor_names`` removes), converted to int8 as ``edge.convert_tflite`` does but without the name strip, and read
with the TFLite schema:

* parts: ``classifier_weights`` (constant buffers of tensors named under the classifier model), ``classifier_ops``
  (its operators and tensor tables), and for the signal processing ``filter`` (input checks, decimation, the clean
  FIR), ``detector`` (detection, refinement, search back), ``guard`` (the amplitude guard, refractory contest, noise
  and post-wide checks), ``beat_extraction`` (RR features, normalisation, beat packing and gather, the outputs), each
  as constants and ops; ``overhead``: the file size minus all of these (flatbuffer header, operator codes, signature,
  empty buffer tables). A part's bytes are marginal: what the packed file loses when its constant buffers are emptied
  (constants), then when its operators and tensor tables are removed too (ops); exact for this packing (vtables,
  vector headers and alignment included), measured on the scoped file with its names stripped and, since run s39,
  without the empty tables (``tflite_file.strip_model``, as ``export`` writes the file; ``strip_levers`` still gives
  what that strip saves, measured on the file before it).
* the top 15 constant buffers by size with their tensor names, duplicated constant buffers (same bytes, more than one
  buffer), float32 constants whose values fit int8/int16 exactly, int32 constants equal to 0..n-1.
* cross-checks: the scoped file with its names stripped against the shipped file (``edge.convert_tflite``, then
  ``tflite_file.strip_empty_tables`` as ``export`` does; SHA-256, size, op
  counts, constant bytes: the scopes change names only, but the converter orders tensors by them, so the bytes may
  differ), the shipped point's size against ``--reference`` (the shipped size), and the
  classifier-only int8 file (``serving.export`` without ``--end-to-end``, dynamic range, names stripped as the
  end-to-end file's are) against the classifier part.

    python experiments/edge/byte_budget.py --work /work/runs/s38-budget --out benchmarks/results/edge_byte_budget.json
    python experiments/edge/byte_budget.py --work /work/runs/s39-strip/budget --out benchmarks/results/edge_byte_budget_s39.json

Prints one JSON object as the last line of stdout (logs to stderr) and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import collections
import copy
import hashlib
import sys
from pathlib import Path

import numpy as np
from look_output import finish  # noqa: E402  (write --out, print the JSON: one helper)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
POINTS = ("off", "on_post_wide")
GOAL = 400_000
# EndToEnd method -> signal part (outermost scope wins: a _conv inside the detector is the detector's)
SCOPES = {"checks": "filter", "detect": "detector", "detect_neurokit": "detector", "refine": "detector",
          "search_back_prepare": "detector", "search_back": "detector", "guard": "guard",
          "refractory_contest": "guard", "late_checks": "guard", "rr": "beat_extraction"}
SIGNAL_PARTS = ("filter", "detector", "guard", "beat_extraction")
TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}


def _scoped(edge):
    """Wrap EndToEnd's steps and ``_conv`` in name scopes (``part__method``); returns the undo function."""
    import functools

    import tensorflow as tf

    saved = {}

    def wrap(owner, name, part):
        original = getattr(owner, name)
        saved[(owner, name)] = original

        @functools.wraps(original)
        def scoped(*a, **k):
            with tf.name_scope(f"{part}__{name}"):
                return original(*a, **k)
        setattr(owner, name, scoped)

    for name, part in SCOPES.items():
        wrap(edge.EndToEnd, name, part)
    wrap(edge, "_conv", "filter")

    def undo():
        for (owner, name), original in saved.items():
            setattr(owner, name, original)
    return undo


def _packed_size(model) -> int:
    import flatbuffers

    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return len(builder.Output())


def _marginal_bytes(model, tensor_parts, op_parts, buffer_owner, part) -> tuple[int, int]:
    """(constant bytes, ops bytes) that the file loses without ``part``: its constant buffers emptied, then its
    operators and tensor tables removed too (exact for this packing, shared vtables and alignment included)."""
    full = _packed_size(model)
    saved = {b: model.buffers[b].data for b, owner in buffer_owner.items() if owner == part}
    for b in saved:
        model.buffers[b].data = None
    no_constants = _packed_size(model)
    kept = [(sg.operators, sg.tensors) for sg in model.subgraphs]
    for s, subgraph in enumerate(model.subgraphs):
        subgraph.operators = [op for op, p in zip(subgraph.operators, op_parts[s]) if p != part]
        subgraph.tensors = [t for t, p in zip(subgraph.tensors, tensor_parts[s]) if p != part]
    no_part = _packed_size(model)
    for subgraph, (ops, tensors) in zip(model.subgraphs, kept):
        subgraph.operators, subgraph.tensors = ops, tensors
    for b, data in saved.items():
        model.buffers[b].data = data
    return full - no_constants, no_constants - no_part


def strip_levers(model) -> dict:
    """Bytes a further strip would save (the file repacked only, not run: estimates until a run proves the outputs):
    the empty QuantizationParameters table of each float/int tensor, then one empty buffer table per data-less tensor
    (those pointed at buffer 0, the schema's empty buffer, and the constants' buffers renumbered). ``model``: names
    already stripped; changed in place."""
    base = _packed_size(model)
    empty = 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            q = tensor.quantization
            if q is not None and (q.scale is None or len(q.scale) == 0) and q.details is None:
                tensor.quantization, empty = None, empty + 1
    no_quant = _packed_size(model)
    used = sorted({t.buffer for sg in model.subgraphs for t in sg.tensors
                   if t.buffer and model.buffers[t.buffer].data is not None and len(model.buffers[t.buffer].data)})
    keep = [0, *used] + [b for b in range(1, len(model.buffers)) if b not in set(used)
                         and any(b == getattr(m, "buffer", None) for m in (model.metadata or []))]
    index = {b: i for i, b in enumerate(keep)}
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.buffer = index.get(tensor.buffer, 0)
    for m in model.metadata or []:
        m.buffer = index[m.buffer]
    dropped = len(model.buffers) - len(keep)
    model.buffers = [model.buffers[b] for b in keep]
    no_buffers = _packed_size(model)
    return {"note": "repacked sizes only, not run: estimates", "empty_quantization_tables": empty,
            "empty_quantization_saved_bytes": base - no_quant, "empty_buffers_dropped": dropped,
            "empty_buffers_saved_bytes": no_quant - no_buffers, "total_saved_bytes": base - no_buffers}


def _part_of(name: str, classifier: str, default: str | None = "beat_extraction") -> str | None:
    """The part of a tensor name; ``default`` for a name without the classifier's prefix or a step's scope: the rest
    of front() and __call__ (input padding, beat packing, outputs)."""
    first = name.split(";")[0]
    if first.startswith(classifier):
        return "classifier"
    for piece in first.split("/"):
        if "__" in piece and piece.split("__")[0] in SIGNAL_PARTS:
            return piece.split("__")[0]
    return default


def breakdown(flatbuffer: bytes, classifier: str) -> dict:
    """Parts, top constants and lever candidates of one named (unstripped) flatbuffer."""
    from tensorflow.lite.python import schema_py_generated as schema

    from ecgsl_keras.serving import tflite_file

    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    opnames = {v: k for k, v in schema.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    parts = {p: {"constant_bytes": 0, "ops": 0, "constants": 0,
                 "by_op": collections.Counter()} for p in ("classifier", *SIGNAL_PARTS)}
    buffer_owner, buffer_names, const_rows = {}, collections.defaultdict(list), []
    tensor_parts, op_parts = [], []
    for s, subgraph in enumerate(model.subgraphs):
        tensor_parts.append([]), op_parts.append([])
        # a subgraph of a WHILE loop: its tensors carry the scope of the step that made the loop
        consumer = {}       # a constant the converter folded ("arith.constantN") belongs to the step that reads it
        for op in subgraph.operators:
            outs = [subgraph.tensors[i].name.decode() for i in (op.outputs if op.outputs is not None else []) if i >= 0]
            for i in (op.inputs if op.inputs is not None else []):
                if outs:
                    consumer.setdefault(int(i), _part_of(outs[0], classifier))
        for t, tensor in enumerate(subgraph.tensors):
            name = tensor.name.decode()
            part = _part_of(name, classifier, None) or consumer.get(t, "beat_extraction")
            tensor_parts[s].append(part)
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            if data is not None and len(data):
                buffer_names[tensor.buffer].append(name)
                if tensor.buffer not in buffer_owner:
                    buffer_owner[tensor.buffer] = part
                    parts[part]["constant_bytes"] += len(data)
                    parts[part]["constants"] += 1
                    const_rows.append({"buffer": tensor.buffer, "bytes": len(data), "part": part,
                                       "type": TYPES.get(tensor.type, str(tensor.type)),
                                       "shape": [int(v) for v in (tensor.shape if tensor.shape is not None else [])],
                                       "subgraph": s})
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            kind = opnames.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
            outs = [subgraph.tensors[i].name.decode() for i in (op.outputs if op.outputs is not None else []) if i >= 0]
            part = _part_of(outs[0], classifier) if outs else "beat_extraction"
            op_parts[s].append(part)
            parts[part]["ops"] += 1
            parts[part]["by_op"][kind] += 1
    for row in const_rows:
        row["names"] = [n[:120] for n in buffer_names[row["buffer"]][:3]]
    for subgraph in model.subgraphs:      # as strip_tensor_names writes the file
        for tensor in subgraph.tensors:
            tensor.name = b""
    levers = strip_levers(copy.deepcopy(model))      # what the strip below saves (nothing on a stripped file)
    # as export writes the file (run s39): no empty tables; the buffers renumbered, so their owners too
    old_buffers = [[t.buffer for t in sg.tensors] for sg in model.subgraphs]
    tflite_file.strip_model(model)
    renumbered = {old: t.buffer for sg, olds in zip(model.subgraphs, old_buffers) for old, t in zip(olds, sg.tensors)}
    buffer_owner = {renumbered[b]: part for b, part in buffer_owner.items()}
    for row in const_rows:
        row["buffer"] = renumbered[row["buffer"]]
    stripped_bytes = _packed_size(model)
    for part in parts:
        parts[part]["constant_marginal_bytes"], parts[part]["ops_marginal_bytes"] = _marginal_bytes(
            model, tensor_parts, op_parts, buffer_owner, part)
    const_rows.sort(key=lambda r: -r["bytes"])
    # lever candidates among the constants (values read from the buffers)
    by_content = collections.defaultdict(list)
    fits, ranges = [], []
    for row in const_rows:
        data = bytes(model.buffers[row["buffer"]].data)
        by_content[hashlib.sha256(data).hexdigest()].append(row)
        if row["type"] == "float32" and row["bytes"] >= 64:
            v = np.frombuffer(data, np.float32)
            for dtype in (np.int8, np.int16):
                info = np.iinfo(dtype)
                if np.all(np.isfinite(v)) and np.all(v == np.round(v)) and v.min() >= info.min and v.max() <= info.max:
                    fits.append({"buffer": row["buffer"], "bytes": row["bytes"], "as": np.dtype(dtype).name,
                                 "saved_estimate": row["bytes"] - v.size * np.dtype(dtype).itemsize,
                                 "names": row["names"]})
                    break
        if row["type"] == "int32" and row["bytes"] >= 64:
            v = np.frombuffer(data, np.int32)
            if np.array_equal(v, np.arange(v.size)):
                ranges.append({"buffer": row["buffer"], "bytes": row["bytes"], "names": row["names"]})
    duplicates = [{"bytes_each": rows[0]["bytes"], "copies": len(rows), "saved_estimate": rows[0]["bytes"] * (len(rows) - 1),
                   "parts": sorted({r["part"] for r in rows}), "names": [r["names"][0] for r in rows][:4]}
                  for rows in by_content.values() if len(rows) > 1]
    duplicates.sort(key=lambda d: -d["saved_estimate"])
    by_type = collections.Counter()
    for row in const_rows:
        by_type[f"{row['part'] if row['part'] == 'classifier' else 'signal'}_{row['type']}"] += row["bytes"]
    op_counts = collections.Counter()
    for p in parts.values():
        op_counts.update(p["by_op"])
        p["by_op"] = dict(p["by_op"].most_common())
    return {"parts": parts, "strip_levers": levers, "top_constants": const_rows[:15], "constant_bytes_by_type": dict(by_type),
            "duplicated_constants": duplicates, "float32_constants_fitting_integers": fits,
            "int32_ranges": ranges, "stripped_bytes": stripped_bytes, "op_counts": dict(sorted(op_counts.items())), "subgraphs": len(model.subgraphs), "buffers": len(model.buffers),
            "operator_codes": len(model.operatorCodes)}


def summarise(raw: dict) -> dict:
    """The stripped file's bytes per part (see the module docstring) and shares."""
    p, size = raw["parts"], raw["stripped_bytes"]
    rows = {"classifier_weights": p["classifier"]["constant_marginal_bytes"],
            "classifier_ops": p["classifier"]["ops_marginal_bytes"]}
    for part in SIGNAL_PARTS:
        rows[f"{part}_constants"] = p[part]["constant_marginal_bytes"]
        rows[f"{part}_ops"] = p[part]["ops_marginal_bytes"]
    rows["overhead"] = size - sum(rows.values())
    signal = sum(v for k, v in rows.items() if k.split("_")[0] in ("filter", "detector", "guard", "beat"))
    groups = {"classifier": rows["classifier_weights"] + rows["classifier_ops"], "signal_processing": signal,
              "overhead": rows["overhead"]}
    signal_ops = sum(p[part]["ops"] for part in SIGNAL_PARTS)
    return {"bytes": rows, "share": {k: round(v / size, 4) for k, v in rows.items()},
            # what one more signal-processing op costs, on average (its operator and tensor tables)
            "signal_ops_bytes_per_op": round(sum(rows[f"{part}_ops"] for part in SIGNAL_PARTS) / signal_ops, 1),
            "groups_bytes": groups, "groups_share": {k: round(v / size, 4) for k, v in groups.items()},
            "ops": {part: p[part]["ops"] for part in p}, "ops_total": sum(p[part]["ops"] for part in p), "constants": {part: p[part]["constants"] for part in p}}


def main(argv=None) -> int:
    import tempfile

    import tensorflow as tf

    from ecgsl_keras.serving import edge
    from ecgsl_keras.serving import export as serving_export
    from ecgsl_keras.serving import tflite_file
    from ecgsl_keras.serving.export import load_classifier
    from gap_port import _configs

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--points", nargs="+", default=list(POINTS), help="gap_port.py's points")
    p.add_argument("--reference", type=int, default=328_296, help="the shipped int8 end-to-end size (bytes)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    model_path, task, configs = _configs()
    classifier = load_classifier(model_path)
    result = {"experiment": "edge_byte_budget", "issue": 21, "model": "cinc2017-edge", "int8_goal_bytes": GOAL,
              "command": "python experiments/edge/byte_budget.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "method": "parts by tensor name (classifier model prefix; signal steps by this script's name scopes); "
                        "constants exact, ops = operator + tensor tables packed alone (estimate), overhead = rest",
              # which serving/edge.py was measured (the script can run from a checkout of an earlier commit)
              "edge_py_sha256": hashlib.sha256(Path(edge.__file__).read_bytes()).hexdigest(),
              "points": {}}
    for point in args.points:
        config = configs[point]
        resolved = edge.resolve_edge_config(edge.EdgeConfig(), config.signal, task.name)
        files = {}
        for scoped in (False, True):
            undo = _scoped(edge) if scoped else (lambda: None)
            try:
                graph = edge.build(classifier, config, resolved)
                folder = Path(tempfile.mkdtemp(dir=args.work)) / "saved_model"
                edge.write_saved_model(graph, folder)
            finally:
                undo()
            if scoped:
                converter = tf.lite.TFLiteConverter.from_saved_model(str(folder), signature_keys=[edge.SIGNATURE])
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                files["named"] = converter.convert()
                files["scoped"] = tflite_file.strip_empty_tables(edge.strip_tensor_names(files["named"]))
            else:
                files["shipped"] = tflite_file.strip_empty_tables(edge.convert_tflite(folder, "int8"))
        classifier_name = graph.model.name
        size = len(files["shipped"])
        raw = breakdown(files["named"], classifier_name)
        shipped_ops = breakdown(files["shipped"], classifier_name)
        entry = {"int8_bytes": size, "sha256": hashlib.sha256(files["shipped"]).hexdigest(),
                 # the scopes change names only, but the converter's order of tensors and buffers follows the names
                 "scoped_identical": files["scoped"] == files["shipped"], "scoped_bytes": len(files["scoped"]),
                 "scoped_same_op_counts": shipped_ops["op_counts"] == raw["op_counts"],
                 "scoped_same_constant_bytes": (sum(v["constant_bytes"] for v in shipped_ops["parts"].values())
                                                == sum(v["constant_bytes"] for v in raw["parts"].values())),
                 "named_bytes": len(files["named"]),
                 "over_goal_bytes": size - GOAL, **summarise(raw), **raw}
        if point == "off":
            entry["reference_bytes"], entry["reference_identical_size"] = args.reference, size == args.reference
        result["points"][point] = entry
        (args.work / f"{point}_int8_named.tflite").write_bytes(files["named"])
        print(point, size, entry["scoped_identical"], entry["groups_bytes"], file=sys.stderr)
    # the classifier alone, as `ecgsl export` writes it without --end-to-end (dynamic-range int8)
    folder = Path(tempfile.mkdtemp(dir=args.work)) / "saved_model"
    serving_export.write_saved_model(classifier, configs[args.points[0]], folder)
    alone = serving_export.convert_tflite(folder, "int8", int8_mode="dynamic")
    stripped = edge.strip_tensor_names(alone)
    alone_raw = breakdown(alone, classifier_name)
    first = result["points"][args.points[0]]
    result["classifier_only"] = {
        "int8_bytes": len(alone), "int8_bytes_names_stripped": len(stripped),
        "constant_bytes": alone_raw["parts"]["classifier"]["constant_bytes"]
        + sum(alone_raw["parts"][p]["constant_bytes"] for p in SIGNAL_PARTS),
        "ops": sum(v["ops"] for v in alone_raw["parts"].values()),
        "end_to_end_minus_classifier_only_bytes": {point: v["int8_bytes"] - len(stripped)
                                                   for point, v in result["points"].items()},
        "classifier_part_in_end_to_end_bytes": first["groups_bytes"]["classifier"],
        "classifier_weights_in_end_to_end_bytes": first["bytes"]["classifier_weights"]}
    return finish(result, "experiments/edge/byte_budget.py", args, argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""What a model file may do before it is loaded: an allow-list of inference ops for SavedModels and TFLite files.

``tf.saved_model.load`` builds (and a signature call runs) whatever graph a folder holds: a SavedModel
whose ``serving_default`` also calls ``WriteFile``, ``ReadFile``, ``PyFunc`` or ``MatchingFiles`` is a
program, not a model. So before a SavedModel is loaded, :func:`check_saved_model` parses its
``saved_model.pb`` (a protocol buffer: parsing it runs nothing) and refuses it unless every op that
loading or calling it can run is on :data:`INFERENCE_OPS`: arithmetic, neural-network, shape and
control-flow ops, and variable reads.

Which ops are checked: the graph's top-level nodes and every function reachable from them or from the
object graph's concrete functions (what ``tf.saved_model.load`` restores and a caller can run),
following function-valued attributes (``f``, ``then_branch``, ``body``, ...) and calls of library
functions by name. The checkpoint save/restore functions that every SavedModel holds (``SaveV2``,
``RestoreV2``: the nodes named by ``saver_def``) are left out: the TensorFlow 2 loader restores
variables itself and never runs them; they are checked like any other if anything else calls them.

A ``.tflite`` file runs only builtin LiteRT kernels unless it declares custom operators (among them
the ``Flex*`` ops, any TensorFlow op run through the Flex delegate): :func:`check_tflite` refuses a
file that declares any (the exports of this package have none).

``trust=True`` (``--trust-model``) skips both checks: for a model from a source you trust that uses
an op the list leaves out. ``.keras`` files are loaded by Keras in safe mode (no Lambda bytecode,
only registered classes), so they need no list.
"""
from __future__ import annotations

from pathlib import Path

from ecgsl_keras.errors import ConfigError

UNTRUSTED = "untrusted_model"   # the ConfigError reason
TRUST_HINT = ("refusing to load it; pass --trust-model (load_model(..., trust=True)) only if you trust "
              "where this model came from")

# Ops that compute (no file, process, network, Python, debug or summary I/O). Sorted, one family a line.
INFERENCE_OPS = frozenset("""
    Const Identity IdentityN NoOp Placeholder PlaceholderWithDefault StopGradient PreventGradient Snapshot
    VarHandleOp ReadVariableOp VarIsInitializedOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp
    ResourceGather DisableCopyOnRead DestroyResourceOp
    PartitionedCall StatefulPartitionedCall If StatelessIf While StatelessWhile Case StatelessCase
    Abs Acos Acosh AddN AddV2 Add Asin Asinh Atan Atan2 Atanh Ceil ClipByValue Cos Cosh Cumsum Cumprod Digamma
    Div DivNoNan Erf Erfc Exp Expm1 Floor FloorDiv FloorMod Inv Reciprocal Lgamma Log Log1p LogSoftmax Maximum
    Minimum Mod Mul MulNoNan Neg Pow RealDiv Rint Round Rsqrt Sigmoid Sign Sin Sinh Softmax Softplus Softsign Sqrt
    Square SquaredDifference Sub Tan Tanh TruncateDiv TruncateMod Xdivy Xlogy Xlog1py BiasAdd BiasAddV1
    Relu Relu6 Elu Selu LeakyRelu Gelu
    Equal NotEqual Greater GreaterEqual Less LessEqual LogicalAnd LogicalOr LogicalNot IsNan IsInf IsFinite
    Select SelectV2 Where ZerosLike OnesLike Fill Range LinSpace
    All Any ArgMax ArgMin Max Mean Min Prod Sum EuclideanNorm TopKV2 Sort
    MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum Conv1D Conv2D Conv3D DepthwiseConv2dNative
    Conv2DBackpropInput MaxPool MaxPoolV2 AvgPool MaxPool3D AvgPool3D FusedBatchNorm FusedBatchNormV2
    FusedBatchNormV3 L2Loss LRN _FusedMatMul _FusedConv2D
    Cast Bitcast Shape ShapeN Size Rank Reshape Squeeze ExpandDims Transpose ConjugateTranspose Pack Unpack
    Concat ConcatV2 Split SplitV Slice StridedSlice Tile Pad PadV2 MirrorPad Gather GatherV2 GatherNd
    ScatterNd TensorScatterUpdate TensorScatterAdd BroadcastTo BroadcastArgs BroadcastGradientArgs Reverse
    ReverseV2 Roll OneHot Unique SpaceToBatchND BatchToSpaceND SpaceToDepth DepthToSpace ReverseSequence
    EnsureShape CheckNumerics Assert MatrixBandPart MatrixDiag MatrixDiagV3 MatrixDiagPartV3 InvertPermutation
    RFFT IRFFT FFT IFFT RFFT2D IRFFT2D Complex ComplexAbs Real Imag Angle Conj
    ResizeBilinear ResizeNearestNeighbor
    StatelessRandomUniformV2 StatelessRandomNormalV2 StatelessRandomGetKeyCounter StatelessTruncatedNormalV2
""".split())


def saved_model_ops(path) -> dict[str, str]:
    """``{op: where}`` for every op loading or calling the SavedModel at ``path`` can run (``where``: the
    first function or ``graph`` holding it). Raises ``ConfigError`` for a missing or unreadable ``saved_model.pb``."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    pb = Path(path) / "saved_model.pb"
    try:
        saved_model = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    except FileNotFoundError:
        raise ConfigError(pb, "missing_file", "no saved_model.pb in this SavedModel folder") from None
    except (OSError, DecodeError) as exc:
        raise ConfigError(pb, "bad_model", f"not a readable SavedModel protocol buffer ({exc})") from None
    found: dict[str, str] = {}
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        library = {f.signature.name: f for f in graph.library.function}
        saver = {meta_graph.saver_def.save_tensor_name.split(":")[0], meta_graph.saver_def.restore_op_name}
        pending = list(meta_graph.object_graph_def.concrete_functions)
        for node in graph.node:
            if node.name in saver:
                continue
            found.setdefault(node.op, "graph")
            pending.extend(_called_functions(node, library))
        seen = set()
        while pending:
            name = pending.pop()
            if name in seen or name not in library:
                continue
            seen.add(name)
            for node in library[name].node_def:
                found.setdefault(node.op, name)
                pending.extend(_called_functions(node, library))
    return found


def _called_functions(node, library) -> list[str]:
    names = [node.op] if node.op in library else []
    for value in node.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        names.extend(f.name for f in value.list.func)
    return names


def check_saved_model(path, trust: bool = False) -> None:
    """Refuse (``ConfigError``, reason ``untrusted_model``) a SavedModel with an op outside :data:`INFERENCE_OPS`."""
    if trust:
        return
    ops = saved_model_ops(path)
    refused = sorted(op for op in ops if op not in INFERENCE_OPS)
    if refused:
        listed = ", ".join(f"{op} (in {ops[op]})" for op in refused[:8]) + (" ..." if len(refused) > 8 else "")
        raise ConfigError(path, UNTRUSTED, f"this SavedModel runs ops that inference does not need: {listed}; "
                                           f"{TRUST_HINT}")


def tflite_custom_ops(path) -> list[str]:
    """Names of the custom operators (``Flex*`` included) a ``.tflite`` flatbuffer declares."""
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    try:
        buffer = path.read_bytes()
        model = schema.Model.GetRootAsModel(buffer, 0)
        names = []
        for i in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(i)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM or code.CustomCode():
                names.append((code.CustomCode() or b"?").decode("utf-8", "replace"))
    except FileNotFoundError:
        raise ConfigError(path, "missing_file", "file not found") from None
    except Exception as exc:   # a damaged flatbuffer fails anywhere inside the generated accessors
        raise ConfigError(path, "bad_model", f"not a readable TFLite flatbuffer ({type(exc).__name__}: {exc})") from None
    return sorted(set(names))


def check_tflite(path, trust: bool = False) -> None:
    """Refuse (``ConfigError``, reason ``untrusted_model``) a ``.tflite`` that declares custom operators."""
    if trust:
        return
    custom = tflite_custom_ops(path)
    if custom:
        raise ConfigError(path, UNTRUSTED, f"this TFLite model declares custom operators {custom} (code outside "
                                           f"the LiteRT builtin kernels); {TRUST_HINT}")

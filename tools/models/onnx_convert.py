"""Convert a shipped ``.tflite`` edge or cloud model to ONNX, without TensorFlow.

The flatbuffer is read with the schema that ships with ai-edge-litert (as
:mod:`.dense_tflite` writes one) and rebuilt node by node with the ``onnx`` helper API,
for the operators the shipped edge and cloud tiers use: CONV_2D, DEPTHWISE_CONV_2D,
MAX_POOL_2D, AVERAGE_POOL_2D, FULLY_CONNECTED, RESHAPE, MEAN, SOFTMAX, ADD, MUL,
TRANSPOSE, EXPAND_DIMS (any other operator is refused by name).

* float32 models convert exactly (the same weights, the same graph);
* int8 models become **float** ONNX from their dequantized weights
  (``scale * (q - zero_point)``, per channel where the file is): the form every ONNX
  Runtime provider, TensorRT (fp32 or fp16) and PyTorch run alike. Its answers differ
  from the int8 interpreter's by the activations' rounding only; the parity check
  (:mod:`.onnx_registry`) measures by how much on the test split.

The ONNX model keeps the TFLite input layout (NHWC images, (channels, steps) series),
takes float32 real values with a free batch dimension and returns float32
probabilities; convolutions run in NCHW between two transposes, as ONNX wants.

    model = tflite_to_onnx(Path("models/mnist-edge.tflite"))
    onnx.save(model, "models/mnist-edge.onnx")
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.errors import ModelError

#: The ONNX opset the converter writes: TensorRT 8.6+/10, ONNX Runtime >= 1.14 and
#: PyTorch all read it.
OPSET = 17
#: The tiers that ship as ONNX too (the mcu tier stays int8 TFLite for tflite-micro).
ONNX_TIERS = ("edge", "cloud")
PRODUCER = "edgecascade"
#: metadata_props keys recording how the file was made and from which file (sha256).
MADE_BY_KEY, SOURCE_KEY = "edgecascade.made_by", "edgecascade.source_sha256"
INPUT_NAME, OUTPUT_NAME = "input", "probs"
NHWC_TO_NCHW, NCHW_TO_NHWC = (0, 3, 1, 2), (0, 2, 3, 1)

#: TFLite fused activations we can express: code -> (ONNX op, clip range)
_ACTIVATIONS = {0: None, 1: ("Relu", None), 2: ("Clip", (-1.0, 1.0)), 3: ("Clip", (0.0, 6.0))}


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated as s

    return s


@dataclass
class _Graph:
    """The ONNX graph under construction, and what each TFLite tensor became."""

    path: Path
    model: Any  # ModelT
    sub: Any  # SubGraphT
    nodes: list[Any] = field(default_factory=list)
    inits: list[Any] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # tflite tensor -> onnx value
    nchw: set[int] = field(default_factory=set)  # tensors held transposed to NCHW
    _n: int = 0

    def fresh(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def node(self, op: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.fresh(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def const(self, array: np.ndarray, stem: str) -> str:
        from onnx import numpy_helper

        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def tensor(self, i: int) -> Any:
        return self.sub.tensors[i]

    def shape(self, i: int) -> tuple[int, ...]:
        t = self.tensor(i)
        return tuple(int(d) for d in t.shape) if t.shape is not None else ()

    def constant(self, i: int) -> np.ndarray | None:
        """A constant tensor's real values (dequantized when int8), or None."""
        s = _schema()
        t = self.tensor(i)
        data = self.model.buffers[t.buffer].data if t.buffer else None
        if data is None or len(data) == 0:
            return None
        raw = np.asarray(data, dtype=np.uint8).tobytes()
        dtypes = {s.TensorType.FLOAT32: np.float32, s.TensorType.INT8: np.int8,
                  s.TensorType.INT32: np.int32, s.TensorType.INT64: np.int64,
                  s.TensorType.UINT8: np.uint8}
        if t.type not in dtypes:
            raise ModelError(self.path, f"constant {t.name!r} has unsupported type {t.type}")
        arr = np.frombuffer(raw, dtype=dtypes[t.type]).reshape(self.shape(i) or (-1,))
        q = t.quantization
        if t.type == s.TensorType.FLOAT32 or q is None or q.scale is None or not len(q.scale):
            return arr
        scale = np.asarray(q.scale, dtype=np.float64)
        zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0] * len(scale),
                        dtype=np.float64)
        if len(scale) > 1:  # per channel along quantizedDimension
            bshape = [1] * arr.ndim
            bshape[int(q.quantizedDimension)] = len(scale)
            scale, zp = scale.reshape(bshape), zp.reshape(bshape)
        return ((arr.astype(np.float64) - zp) * scale).astype(np.float32)

    def value(self, i: int, layout: str = "native") -> str:
        """The ONNX value of TFLite tensor ``i`` in the ``layout`` asked for."""
        if i not in self.names:
            arr = self.constant(i)
            if arr is None:
                raise ModelError(self.path, f"tensor {self.tensor(i).name!r} is used "
                                            "before it is computed")
            self.names[i] = self.const(arr, "w")
        name = self.names[i]
        if layout == "nchw" and i not in self.nchw:
            return self.node("Transpose", [name], "to_nchw", perm=list(NHWC_TO_NCHW))
        if layout == "native" and i in self.nchw:
            return self.node("Transpose", [name], "to_nhwc", perm=list(NCHW_TO_NHWC))
        return name

    def done(self, i: int, name: str, *, nchw: bool = False) -> None:
        self.names[i] = name
        if nchw:
            self.nchw.add(i)
        else:
            self.nchw.discard(i)

    def activate(self, name: str, code: int) -> str:
        if code not in _ACTIVATIONS:
            raise ModelError(self.path, f"unsupported fused activation {code}")
        act = _ACTIVATIONS[code]
        if act is None:
            return name
        op, bounds = act
        if bounds is None:
            return self.node(op, [name], "relu")
        lo = self.const(np.array(bounds[0], np.float32), "lo")
        hi = self.const(np.array(bounds[1], np.float32), "hi")
        return self.node(op, [name, lo, hi], "clip")


def _same_pads(in_hw: tuple[int, int], k_hw: tuple[int, int], stride: tuple[int, int],
               dilation: tuple[int, int]) -> list[int]:
    """TensorFlow's SAME padding as explicit ONNX pads (the odd pixel at the end)."""
    begin, end = [], []
    for size, k, s, d in zip(in_hw, k_hw, stride, dilation, strict=True):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


def _weights(g: _Graph, op: Any, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A layer's constant weights (input 1) and bias (input 2, optional)."""
    w = g.constant(int(op.inputs[1]))
    if w is None:
        raise ModelError(g.path, f"{what} weights must be constant")
    b = (g.constant(int(op.inputs[2])) if len(op.inputs) > 2 and int(op.inputs[2]) >= 0
         else None)
    return w, None if b is None else b.astype(np.float32)


def _conv(g: _Graph, op: Any, depthwise: bool) -> None:
    o = op.builtinOptions
    x = int(op.inputs[0])
    w, b = _weights(g, op, "convolution")
    in_shape = g.shape(x)
    if depthwise:  # (1, KH, KW, C*M) -> (C*M, 1, KH, KW), groups C
        groups = in_shape[3]
        w_onnx = w.transpose(3, 0, 1, 2)
    else:  # OHWI -> OIHW
        groups = 1
        w_onnx = w.transpose(0, 3, 1, 2)
    stride = (int(o.strideH), int(o.strideW))
    dilation = (int(o.dilationHFactor), int(o.dilationWFactor))
    k_hw = (int(w_onnx.shape[2]), int(w_onnx.shape[3]))
    pads = (_same_pads((in_shape[1], in_shape[2]), k_hw, stride, dilation)
            if o.padding == _schema().Padding.SAME else [0, 0, 0, 0])
    inputs = [g.value(x, "nchw"), g.const(w_onnx, "conv_w")]
    if b is not None:
        inputs.append(g.const(b, "conv_b"))
    y = g.node("Conv", inputs, "conv", strides=list(stride), dilations=list(dilation),
               pads=pads, group=groups, kernel_shape=list(k_hw))
    g.done(int(op.outputs[0]), g.activate(y, int(o.fusedActivationFunction)), nchw=True)


def _pool(g: _Graph, op: Any, kind: str) -> None:
    o = op.builtinOptions
    x = int(op.inputs[0])
    in_shape = g.shape(x)
    k_hw = (int(o.filterHeight), int(o.filterWidth))
    stride = (int(o.strideH), int(o.strideW))
    pads = (_same_pads((in_shape[1], in_shape[2]), k_hw, stride, (1, 1))
            if o.padding == _schema().Padding.SAME else [0, 0, 0, 0])
    extra = {"count_include_pad": 0} if kind == "AveragePool" else {}
    y = g.node(kind, [g.value(x, "nchw")], "pool", kernel_shape=list(k_hw),
               strides=list(stride), pads=pads, **extra)
    g.done(int(op.outputs[0]), g.activate(y, int(o.fusedActivationFunction)), nchw=True)


def _batched_shape(shape: tuple[int, ...]) -> np.ndarray:
    """A static TFLite shape with its batch dimension left free (-1)."""
    return np.array([-1, *shape[1:]], dtype=np.int64)


def _reshape(g: _Graph, op: Any) -> None:
    out = int(op.outputs[0])
    y = g.node("Reshape", [g.value(int(op.inputs[0])),
                           g.const(_batched_shape(g.shape(out)), "shape")], "reshape")
    g.done(out, y)


def _fully_connected(g: _Graph, op: Any) -> None:
    o = op.builtinOptions
    x = int(op.inputs[0])
    w, b = _weights(g, op, "fully connected")
    a = g.value(x)
    if len(g.shape(x)) != 2:
        a = g.node("Reshape", [a, g.const(np.array([-1, w.shape[1]], np.int64), "shape")],
                   "flatten")
    inputs = [a, g.const(w.astype(np.float32), "fc_w")]
    if b is not None:
        inputs.append(g.const(b, "fc_b"))
    y = g.node("Gemm", inputs, "fc", transB=1)
    g.done(int(op.outputs[0]), g.activate(y, int(o.fusedActivationFunction)))


def _mean(g: _Graph, op: Any) -> None:
    axes = g.constant(int(op.inputs[1]))
    if axes is None:
        raise ModelError(g.path, "MEAN axes must be constant")
    keep = int(bool(op.builtinOptions.keepDims)) if op.builtinOptions else 0
    y = g.node("ReduceMean", [g.value(int(op.inputs[0]))], "mean",
               axes=[int(a) for a in np.ravel(axes)], keepdims=keep)
    g.done(int(op.outputs[0]), y)


def _softmax(g: _Graph, op: Any) -> None:
    x = g.value(int(op.inputs[0]))
    beta = float(op.builtinOptions.beta) if op.builtinOptions else 1.0
    if beta != 1.0:
        x = g.node("Mul", [x, g.const(np.array(beta, np.float32), "beta")], "beta")
    g.done(int(op.outputs[0]), g.node("Softmax", [x], "softmax", axis=-1))


def _binary(kind: str) -> Callable[[_Graph, Any], None]:
    def convert(g: _Graph, op: Any) -> None:
        y = g.node(kind, [g.value(int(op.inputs[0])), g.value(int(op.inputs[1]))],
                   kind.lower())
        code = int(op.builtinOptions.fusedActivationFunction) if op.builtinOptions else 0
        g.done(int(op.outputs[0]), g.activate(y, code))
    return convert


def _transpose(g: _Graph, op: Any) -> None:
    perm = g.constant(int(op.inputs[1]))
    if perm is None:
        raise ModelError(g.path, "TRANSPOSE permutation must be constant")
    y = g.node("Transpose", [g.value(int(op.inputs[0]))], "transpose",
               perm=[int(p) for p in np.ravel(perm)])
    g.done(int(op.outputs[0]), y)


def _expand_dims(g: _Graph, op: Any) -> None:
    axis = g.constant(int(op.inputs[1]))
    if axis is None:
        raise ModelError(g.path, "EXPAND_DIMS axis must be constant")
    rank = len(g.shape(int(op.inputs[0])))
    a = int(np.ravel(axis)[0])
    a = a + rank + 1 if a < 0 else a
    y = g.node("Unsqueeze", [g.value(int(op.inputs[0])),
                             g.const(np.array([a], np.int64), "axes")], "unsqueeze")
    g.done(int(op.outputs[0]), y)


CONVERTERS: dict[str, Callable[[_Graph, Any], None]] = {
    "CONV_2D": lambda g, op: _conv(g, op, depthwise=False),
    "DEPTHWISE_CONV_2D": lambda g, op: _conv(g, op, depthwise=True),
    "MAX_POOL_2D": lambda g, op: _pool(g, op, "MaxPool"),
    "AVERAGE_POOL_2D": lambda g, op: _pool(g, op, "AveragePool"),
    "FULLY_CONNECTED": _fully_connected,
    "RESHAPE": _reshape,
    "MEAN": _mean,
    "SOFTMAX": _softmax,
    "ADD": _binary("Add"),
    "MUL": _binary("Mul"),
    "TRANSPOSE": _transpose,
    "EXPAND_DIMS": _expand_dims,
}


def _op_name(model: Any, op: Any) -> str:
    s = _schema()
    code = model.operatorCodes[op.opcodeIndex]
    value = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(value, f"op{value}")


def tflite_ops(data: bytes) -> list[str]:
    """The operator names of a TFLite model's first subgraph, in order."""
    model = _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    return [_op_name(model, op) for op in model.subgraphs[0].operators]


def tflite_to_onnx(path: Path, *, data: bytes | None = None, made_by: str = "",
                   source_sha256: str = "") -> Any:
    """The ``onnx.ModelProto`` of the ``.tflite`` at ``path`` (or of ``data``, named
    ``path`` in errors); raises :class:`ModelError` naming what it cannot convert.
    ``made_by`` and ``source_sha256`` are recorded in the file (:data:`MADE_BY_KEY`,
    :data:`SOURCE_KEY`) for the registry."""
    from onnx import TensorProto, checker, helper

    s = _schema()
    data = path.read_bytes() if data is None else data
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(path, "not a TFLite flatbuffer")
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    if len(model.subgraphs) != 1:
        raise ModelError(path, f"expected one subgraph, got {len(model.subgraphs)}")
    sub = model.subgraphs[0]
    if len(sub.inputs) != 1 or len(sub.outputs) != 1:
        raise ModelError(path, "expected one input and one output")
    g = _Graph(path, model, sub)
    x_i, y_i = int(sub.inputs[0]), int(sub.outputs[0])
    in_shape = g.shape(x_i)
    g.names[x_i] = INPUT_NAME
    unknown = sorted({n for n in (_op_name(model, op) for op in sub.operators)
                      if n not in CONVERTERS})
    if unknown:
        raise ModelError(path, f"operators the ONNX converter does not handle: {unknown}")
    for op in sub.operators:
        CONVERTERS[_op_name(model, op)](g, op)
    out = g.value(y_i)
    g.nodes.append(helper.make_node("Identity", [out], [OUTPUT_NAME], name=OUTPUT_NAME))
    classes = g.shape(y_i)[-1]
    graph = helper.make_graph(
        g.nodes, path.stem,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *in_shape[1:]])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", classes])],
        g.inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name=PRODUCER)
    onnx_model.ir_version = 8  # readable by ONNX Runtime >= 1.14 and TensorRT 8.6
    quantized = int(sub.tensors[x_i].type) in (s.TensorType.INT8, s.TensorType.UINT8)
    helper.set_model_props(onnx_model, {
        MADE_BY_KEY: made_by or (
            f"converted from {path.name} by edgecascade's TFLite->ONNX converter: "
            + ("float32 graph from the int8 file's dequantized weights" if quantized
               else "the float32 graph and weights unchanged")),
        SOURCE_KEY: source_sha256 or hashlib.sha256(data).hexdigest()})
    checker.check_model(onnx_model)
    return onnx_model

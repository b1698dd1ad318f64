"""Write small dense softmax classifiers as ``.tflite`` files without TensorFlow.

For tests and quick experiments: a stack of FULLY_CONNECTED layers (ReLU between them)
and a SOFTMAX, float32 or int8 (per-tensor affine quantization, the int8 softmax output
at scale 1/256, zero point -128 as the converter writes it), serialized with the
flatbuffers schema that ships with ai-edge-litert. The input may have any shape; the
first layer sees it flattened (FULLY_CONNECTED's rule), so a (6, 16) window works.

    layers = [(w1, b1), (w2, b2)]            # w: (out, in) float32, b: (out,)
    data = dense_tflite(layers, input_shape=(6, 16))
    data = dense_tflite(layers, input_shape=(6, 16), int8=Int8Calibration(x_calib))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Layer = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Int8Calibration:
    """Representative real inputs (N, *input_shape) that fix the activation ranges."""

    inputs: np.ndarray


def _affine(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 or 1.0 / 255.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return float(np.float32(scale)), zp


def _forward(layers: Sequence[Layer], x: np.ndarray) -> list[np.ndarray]:
    acts = [x.reshape(len(x), -1).astype(np.float64)]
    for i, (w, b) in enumerate(layers):
        z = acts[-1] @ w.T.astype(np.float64) + b
        acts.append(np.maximum(z, 0.0) if i < len(layers) - 1 else z)
    return acts


def dense_tflite(layers: Sequence[Layer], input_shape: tuple[int, ...],
                 int8: Int8Calibration | None = None) -> bytes:
    """The model bytes (``TFL3``); batch 1, one input, one softmax output."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    buffers: list[bytes] = [b""]
    tensors: list = []

    def quant(scale: float | None, zp: int) -> object | None:
        if scale is None:
            return None
        q = s.QuantizationParametersT()
        q.scale, q.zeroPoint = [scale], [zp]
        return q

    def tensor(shape: Sequence[int], ttype: int, name: str, data: bytes | None = None,
               scale: float | None = None, zp: int = 0) -> int:
        t = s.TensorT()
        t.shape, t.type, t.name = list(shape), ttype, name.encode()
        t.buffer = 0
        if data is not None:
            buffers.append(data)
            t.buffer = len(buffers) - 1
        t.quantization = quant(scale, zp)
        tensors.append(t)
        return len(tensors) - 1

    f32, i8, i32 = s.TensorType.FLOAT32, s.TensorType.INT8, s.TensorType.INT32
    acts = _forward(layers, int8.inputs) if int8 is not None else None
    aq = ([_affine(float(a.min()), float(a.max())) for a in acts] if acts is not None
          else [(None, 0)] * (len(layers) + 1))
    ttype = i8 if int8 is not None else f32
    x = tensor([1, *input_shape], ttype, "input", scale=aq[0][0], zp=aq[0][1])
    ops = []
    current = x
    for i, (w, b) in enumerate(layers):
        w = np.asarray(w, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32)
        if int8 is not None:
            in_scale = aq[i][0]
            assert in_scale is not None
            w_scale = float(np.float32(max(float(np.abs(w).max()), 1e-8) / 127.0))
            wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
            b_scale = in_scale * w_scale
            bq = np.round(b / b_scale).astype(np.int32)
            wt = tensor(w.shape, i8, f"w{i}", wq.tobytes(), w_scale, 0)
            bt = tensor(b.shape, i32, f"b{i}", bq.tobytes(), b_scale, 0)
        else:
            wt = tensor(w.shape, f32, f"w{i}", w.tobytes())
            bt = tensor(b.shape, f32, f"b{i}", b.tobytes())
        out = tensor([1, w.shape[0]], ttype, f"fc{i}", scale=aq[i + 1][0], zp=aq[i + 1][1])
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, [current, wt, bt], [out]
        op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
        opts = s.FullyConnectedOptionsT()
        opts.fusedActivationFunction = (s.ActivationFunctionType.RELU
                                        if i < len(layers) - 1 else
                                        s.ActivationFunctionType.NONE)
        op.builtinOptions = opts
        ops.append(op)
        current = out
    n_out = int(np.asarray(layers[-1][0]).shape[0])
    probs = tensor([1, n_out], ttype, "probs", scale=1 / 256 if int8 is not None else None,
                   zp=-128)
    sm = s.OperatorT()
    sm.opcodeIndex, sm.inputs, sm.outputs = 1, [current], [probs]
    sm.builtinOptionsType = s.BuiltinOptions.SoftmaxOptions
    sm_opts = s.SoftmaxOptionsT()
    sm_opts.beta = 1.0
    sm.builtinOptions = sm_opts
    ops.append(sm)

    codes = []
    for builtin in (s.BuiltinOperator.FULLY_CONNECTED, s.BuiltinOperator.SOFTMAX):
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = builtin, builtin, 1
        codes.append(c)
    sub = s.SubGraphT()
    sub.tensors, sub.inputs, sub.outputs, sub.operators = tensors, [x], [probs], ops
    sub.name = b"main"
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, codes, [sub]
    model.description = b"edgecascade dense_tflite"
    bufs = []
    for data in buffers:
        bt_ = s.BufferT()
        bt_.data = list(data) if data else None
        bufs.append(bt_)
    model.buffers = bufs
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def train_softmax(x: np.ndarray, y: np.ndarray, classes: int, hidden: Sequence[int] = (),
                  steps: int = 300, lr: float = 0.5, seed: int = 0) -> list[Layer]:
    """Full-batch gradient descent on cross-entropy (numpy): a small MLP or, with no
    hidden layers, multinomial logistic regression. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1).astype(np.float64)
    sizes = [flat.shape[1], *hidden, classes]
    layers = [(rng.normal(0, np.sqrt(2.0 / sizes[i]), (sizes[i + 1], sizes[i])),
               np.zeros(sizes[i + 1])) for i in range(len(sizes) - 1)]
    onehot = np.eye(classes)[y]
    for _ in range(steps):
        acts = _forward(layers, flat)
        z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        grad = (p - onehot) / len(flat)
        new = []
        for i in range(len(layers) - 1, -1, -1):
            w, b = layers[i]
            gw, gb = grad.T @ acts[i], grad.sum(axis=0)
            grad = (grad @ w) * (acts[i] > 0)
            new.append((w - lr * gw, b - lr * gb))
        layers = new[::-1]
    return [(w.astype(np.float32), b.astype(np.float32)) for w, b in layers]

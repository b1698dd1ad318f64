"""Make a second version of the mcu model from the first, without TensorFlow.

``edgecascade models variant --out models/mnist-mcu-v2.tflite`` (or :func:`make_variant`)
rewrites ``mnist-mcu.tflite`` through the flatbuffer object API:

* **wider**: the first convolution gets ``widen`` times its filters (copies of the
  existing ones) and the second convolution reads the extra channels with zero weights,
  so the answers are unchanged by this step while the activations, and so the tensor
  arena the model needs, grow (16 -> 32 filters: 16,128 -> about 27 KB);
* **retrained-like**: each int8 weight of the dense layer moves by -1, 0 or +1 (seeded),
  so the answers differ slightly from v1's, as after a retraining.

It is how the OTA tests get a v2 that is a real, different model: one that fits a
32 KB arena and not the ESP32 app's 24 KB one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DENSE_WEIGHTS = "sequential_1/dense_1/MatMul"


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    return schema


def _tensor(subgraph, name: str) -> int:
    for i, t in enumerate(subgraph.tensors):
        if t.name.decode() == name:
            return i
    raise KeyError(name)


def _conv_ops(model, subgraph) -> list:
    schema = _schema()
    return [op for op in subgraph.operators
            if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.CONV_2D
            or model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode
            == schema.BuiltinOperator.CONV_2D]


def _set(model, tensor, arr: np.ndarray) -> None:
    tensor.shape = np.asarray(arr.shape, dtype=np.int32)
    model.buffers[tensor.buffer].data = np.frombuffer(arr.tobytes(), dtype=np.uint8).copy()


def _get(model, tensor, dtype: type) -> np.ndarray:
    raw = np.asarray(model.buffers[tensor.buffer].data, dtype=np.uint8).tobytes()
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(int(d) for d in tensor.shape)).copy()


def make_variant(v1: bytes, *, widen: int = 2, seed: int = 2, nudge: int = 1,
                 zero_dense: bool = False) -> bytes:
    """The v2 flatbuffer built from ``v1`` (see the module docstring); ``zero_dense``
    zeroes the dense layer instead: a model that loads and runs but answers nonsense
    (what a self-test must catch)."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(v1), 0)
    g = model.subgraphs[0]
    conv1, conv2 = _conv_ops(model, g)[:2]
    w1, b1 = g.tensors[conv1.inputs[1]], g.tensors[conv1.inputs[2]]
    w2 = g.tensors[conv2.inputs[1]]
    _set(model, w1, np.concatenate([_get(model, w1, np.int8)] * widen, axis=0))
    _set(model, b1, np.concatenate([_get(model, b1, np.int32)] * widen, axis=0))
    for q in (w1.quantization, b1.quantization):
        q.scale = list(q.scale) * widen
        q.zeroPoint = list(q.zeroPoint) * widen
    old2 = _get(model, w2, np.int8)
    _set(model, w2, np.concatenate([old2] + [np.zeros_like(old2)] * (widen - 1), axis=3))
    # the activations between conv1 and conv2 (conv1's output, the max-pool's) get wider
    pool = next(op for op in g.operators if op.inputs[0] == conv1.outputs[0])
    for idx in (conv1.outputs[0], pool.outputs[0]):
        t = g.tensors[idx]
        t.shape = np.asarray([*t.shape[:3], int(t.shape[3]) * widen], dtype=np.int32)
    dense = g.tensors[_tensor(g, DENSE_WEIGHTS)]
    wd = _get(model, dense, np.int8).astype(np.int16)
    rng = np.random.default_rng(seed)
    wd = np.clip(wd + rng.integers(-nudge, nudge + 1, size=wd.shape), -127, 127)
    if zero_dense:
        wd[:] = 0
    _set(model, dense, wd.astype(np.int8))
    builder = flatbuffers.Builder(len(v1) * 2)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write_variant(src: Path, out: Path, *, widen: int = 2, seed: int = 2, nudge: int = 1
                  ) -> Path:
    out.write_bytes(make_variant(src.read_bytes(), widen=widen, seed=seed, nudge=nudge))
    return out

"""An ONNX graph as a ``torch.nn.Module``, for the operators edgecascade's ONNX files use.

The converter (``tools/models/onnx_convert.py``) and the camera-scale benchmark model
write Conv, MaxPool, AveragePool, GlobalAveragePool, Gemm, Relu, Clip, Add, Mul,
Transpose, Reshape, Flatten, Unsqueeze, ReduceMean, Softmax and Identity. This module
runs exactly those, node by node, with the initializers as buffers (so ``.to(device)``
and ``.half()`` move them); :func:`onnx_to_torch` hands any other graph to
``onnx2torch`` where it is installed, and otherwise names the operators it lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ModelError

SUPPORTED = frozenset({"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "Relu",
                       "Clip", "Add", "Mul", "Transpose", "Reshape", "Flatten", "Unsqueeze",
                       "ReduceMean", "Softmax", "Identity"})


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _spatial_pad(x: Any, pads: list[int], value: float) -> tuple[Any, tuple[int, int]]:
    """ONNX pads (top, left, bottom, right) -> torch's symmetric padding, or an explicit
    pad of the input when the two sides differ (TensorFlow's SAME at stride 2)."""
    import torch.nn.functional as F  # noqa: N812 - torch's own name

    t, left, b, r = (pads + [0, 0, 0, 0])[:4]
    if (t, left) == (b, r):
        return x, (t, left)
    return F.pad(x, (left, r, t, b), value=value), (0, 0)


def _ops() -> dict[str, Callable[..., Any]]:
    import torch
    import torch.nn.functional as F  # noqa: N812

    def conv(a: dict[str, Any], x: Any, w: Any, b: Any = None) -> Any:
        x, pad = _spatial_pad(x, list(a.get("pads", [0, 0, 0, 0])), 0.0)
        return F.conv2d(x, w, b, stride=tuple(a.get("strides", (1, 1))), padding=pad,
                        dilation=tuple(a.get("dilations", (1, 1))), groups=a.get("group", 1))

    def maxpool(a: dict[str, Any], x: Any) -> Any:
        x, pad = _spatial_pad(x, list(a.get("pads", [0, 0, 0, 0])), float("-inf"))
        return F.max_pool2d(x, tuple(a["kernel_shape"]), tuple(a.get("strides", (1, 1))), pad)

    def avgpool(a: dict[str, Any], x: Any) -> Any:
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if pads[:2] != pads[2:]:
            raise ModelError("onnx graph", "AveragePool with uneven padding")
        return F.avg_pool2d(x, tuple(a["kernel_shape"]), tuple(a.get("strides", (1, 1))),
                            tuple(pads[:2]),
                            count_include_pad=bool(a.get("count_include_pad", 0)))

    def gemm(a: dict[str, Any], x: Any, w: Any, b: Any = None) -> Any:
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise ModelError("onnx graph", "Gemm with transA, alpha or beta")
        return F.linear(x, w if a.get("transB", 0) else w.t(), b)

    def clip(a: dict[str, Any], x: Any, lo: Any = None, hi: Any = None) -> Any:
        return torch.clamp(x, None if lo is None else float(lo), None if hi is None
                           else float(hi))

    def reshape(a: dict[str, Any], x: Any, shape: Any) -> Any:
        dims = [int(d) for d in shape.tolist()]
        return x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(dims)])

    def unsqueeze(a: dict[str, Any], x: Any, axes: Any) -> Any:
        for ax in sorted(int(v) for v in axes.tolist()):
            x = x.unsqueeze(ax)
        return x

    def mean(a: dict[str, Any], x: Any) -> Any:
        return x.mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))

    return {
        "Conv": conv, "MaxPool": maxpool, "AveragePool": avgpool, "Gemm": gemm,
        "GlobalAveragePool": lambda a, x: x.mean(dim=(2, 3), keepdim=True),
        "Relu": lambda a, x: F.relu(x), "Clip": clip,
        "Add": lambda a, x, y: x + y, "Mul": lambda a, x, y: x * y,
        "Transpose": lambda a, x: x.permute(*a["perm"]), "Reshape": reshape,
        "Flatten": lambda a, x: x.flatten(a.get("axis", 1)), "Unsqueeze": unsqueeze,
        "ReduceMean": mean, "Softmax": lambda a, x: F.softmax(x, dim=a.get("axis", -1)),
        "Identity": lambda a, x: x,
    }


#: Inputs that stay on the host as plain tensors (shapes, axes, clip bounds): never
#: cast to fp16, never moved as weights.
_SHAPE_INPUTS = {("Reshape", 1), ("Unsqueeze", 1), ("Clip", 1), ("Clip", 2)}


def graph_module(model: Any) -> Any:
    """The ONNX ``ModelProto`` as a ``torch.nn.Module`` taking and returning one tensor."""
    import torch
    from onnx import numpy_helper

    ops = _ops()
    graph = model.graph
    missing = sorted({n.op_type for n in graph.node} - SUPPORTED)
    if missing:
        raise ModelError("onnx graph", f"operators the torch graph runner lacks: {missing}")
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    shape_names = {n.input[k] for n in graph.node for (op, k) in _SHAPE_INPUTS
                   if n.op_type == op and len(n.input) > k}
    inputs = [i.name for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelError("onnx graph", "expected one input and one output")

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.names: dict[str, str] = {}
            self.shapes: dict[str, Any] = {}
            for i, (name, arr) in enumerate(inits.items()):
                if name in shape_names:
                    self.shapes[name] = torch.from_numpy(arr.copy())
                else:
                    self.register_buffer(f"w{i}", torch.from_numpy(arr.copy()))
                    self.names[name] = f"w{i}"
            self.steps = [(n.op_type, list(n.input), n.output[0], _attrs(n))
                          for n in graph.node]
            self.input, self.output = inputs[0], graph.output[0].name

        def forward(self, x: Any) -> Any:
            env: dict[str, Any] = {self.input: x}
            for op, ins, out, attrs in self.steps:
                args = [env[n] if n in env else self.shapes[n] if n in self.shapes
                        else getattr(self, self.names[n]) if n else None for n in ins]
                env[out] = ops[op](attrs, *args)
            return env[self.output]

    return Graph().eval()


def onnx_to_torch(model: Any) -> tuple[Any, str]:
    """(module, converter name): this module's graph runner for the operators above,
    ``onnx2torch`` for any other graph where it is installed."""
    ops = {n.op_type for n in model.graph.node}
    if ops <= SUPPORTED:
        return graph_module(model), "edgecascade"
    try:
        from onnx2torch import convert
    except ImportError:
        raise ModelError("onnx graph", f"operators {sorted(ops - SUPPORTED)} need onnx2torch "
                                       "(pip install onnx2torch)") from None
    return convert(model).eval(), "onnx2torch"

"""MobileNetV2 as an ONNX model with random weights: the camera-scale classifier of the
GPU benchmark (throughput does not depend on the weights).

Built from its architecture (Sandler et al. 2018: a 3x3 stem, 17 inverted residual
blocks of 1x1 expansion, 3x3 depthwise and 1x1 projection, a 1x1 head to 1280, global
average pooling and a classifier) with the ``onnx`` helper API; batch norm is folded
into the convolutions' biases, as an exported inference graph has it. The input is
NHWC float32 real values (N, size, size, 3), like every edgecascade ONNX file, and the
output softmax probabilities.

    model = mobilenet_v2(96)            # 96x96x3, 1000 classes, width 1.0
    onnx.save(model, "mobilenet_v2_96.onnx")
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .onnx_convert import INPUT_NAME, NHWC_TO_NCHW, OPSET, OUTPUT_NAME

#: (expansion t, output channels c, repeats n, first stride s) of the paper's Table 2.
BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))


def _channels(c: float) -> int:
    """Round to a multiple of 8, never below 90% of ``c`` (the reference rule)."""
    v = max(8, int(c + 4) // 8 * 8)
    return v + 8 if v < 0.9 * c else v


def mobilenet_v2(size: int, *, classes: int = 1000, width: float = 1.0,
                 seed: int = 0) -> Any:
    """The ``onnx.ModelProto`` of MobileNetV2 at ``size`` x ``size`` x 3."""
    from onnx import TensorProto, checker, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    inits: list[Any] = []
    count = [0]

    def name(stem: str) -> str:
        count[0] += 1
        return f"{stem}{count[0]}"

    def const(arr: np.ndarray, stem: str) -> str:
        n = name(stem)
        inits.append(numpy_helper.from_array(arr.astype(np.float32), n))
        return n

    six = const(np.array(6.0), "six")
    zero = const(np.array(0.0), "zero")

    def conv(x: str, cin: int, cout: int, k: int, stride: int, groups: int = 1,
             relu6: bool = True) -> str:
        fan_in = cin // groups * k * k
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), (cout, cin // groups, k, k))
        b = rng.normal(0.0, 0.01, cout)
        y = name("conv")
        nodes.append(helper.make_node("Conv", [x, const(w, "w"), const(b, "b")], [y],
                                      kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[k // 2] * 4, group=groups))
        if not relu6:
            return y
        z = name("relu6")
        nodes.append(helper.make_node("Clip", [y, zero, six], [z]))
        return z

    x = name("nchw")
    nodes.append(helper.make_node("Transpose", [INPUT_NAME], [x], perm=list(NHWC_TO_NCHW)))
    cin = _channels(32 * width)
    x = conv(x, 3, cin, 3, 2)
    for t, c, n, s in BLOCKS:
        cout = _channels(c * width)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = conv(x, cin, hidden, 1, 1) if t != 1 else x
            y = conv(y, hidden, hidden, 3, stride, groups=hidden)
            y = conv(y, hidden, cout, 1, 1, relu6=False)
            if stride == 1 and cin == cout:
                r = name("add")
                nodes.append(helper.make_node("Add", [x, y], [r]))
                y = r
            x, cin = y, cout
    head = _channels(1280 * max(1.0, width))
    x = conv(x, cin, head, 1, 1)
    pooled, flat, logits = name("gap"), name("flat"), name("logits")
    nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled]))
    nodes.append(helper.make_node("Flatten", [pooled], [flat], axis=1))
    w = rng.normal(0.0, np.sqrt(1.0 / head), (classes, head))
    nodes.append(helper.make_node("Gemm", [flat, const(w, "fc_w"),
                                           const(np.zeros(classes), "fc_b")], [logits],
                                  transB=1))
    nodes.append(helper.make_node("Softmax", [logits], [OUTPUT_NAME], axis=-1))
    graph = helper.make_graph(
        nodes, f"mobilenet_v2_{size}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", size, size, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", classes])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgecascade")
    model.ir_version = 8
    checker.check_model(model)
    return model

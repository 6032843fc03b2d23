"""Small float ONNX models for the quantisation rewrites' unit tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def two_layers(
    extra_nodes: Sequence[onnx.NodeProto] = (),
    extra_outputs: Sequence[onnx.ValueInfoProto] = (),
) -> onnx.ModelProto:
    """x [n, 16] → MatMul(w1) → Relu → MatMul(w2) → y [n, 4], seeded weights."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 32)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((32, 4)).astype(np.float32) * 0.3
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("MatMul", ["r", "w2"], ["y"]),
            *extra_nodes,
        ],
        "two",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4]), *extra_outputs],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

"""The int8 variant in QDQ form (the openvino provider's): the rewrite on a small float model,
executed by ONNX Runtime's CPU provider as the reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
from onnx import TensorProto, helper, numpy_helper

from shared.errors import ConfigurationError
from shared.inference.qdq_int8 import QDQ_RANGES_KEY, linear_inputs, with_qdq
from shared.inference.static_int8 import load_ranges
from tests.support.onnx_models import two_layers


def _model() -> onnx.ModelProto:
    """The two layers, plus a MatMul of two activations (not a linear layer)."""
    return two_layers(
        [
            helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0]),
            helper.make_node("MatMul", ["x", "xt"], ["gram"]),
        ],
        [helper.make_tensor_value_info("gram", TensorProto.FLOAT, ["n", "n"])],
    )


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(["y"], {"x": x})[0])


def _ranges(model: onnx.ModelProto, x: np.ndarray) -> dict[str, tuple[float, float]]:
    w1 = numpy_helper.to_array(model.graph.initializer[0])
    hidden = np.maximum(x @ w1, 0)
    span = float(np.abs(x).max())
    return {"x": (-0.9 * span, span), "r": (0.0, float(hidden.max()))}


def test_every_linear_layer_gets_int8_qdq_and_stays_close_to_float() -> None:
    fp32 = _model()
    assert linear_inputs(fp32) == ["x", "r"]  # the activation x activation product is not one
    x = np.random.default_rng(1).standard_normal((6, 16)).astype(np.float32)
    qdq = with_qdq(fp32, _ranges(fp32, x))
    onnx.checker.check_model(qdq)
    ops = [n.op_type for n in qdq.graph.node]
    assert ops.count("QuantizeLinear") == 2  # one per activation
    assert ops.count("DequantizeLinear") == 4  # two activations, two weights
    inits = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    assert "w1" not in inits and "w2" not in inits  # float weights are gone
    assert inits["w1_int8"].dtype == np.int8 and inits["w1_int8_scale"].shape == (32,)
    assert np.abs(inits["w1_int8"]).max() == 127  # each column's largest weight maps to 127
    # x is symmetric enough: int8, zero point 0; r = relu(...) is skewed: uint8 + zero point
    assert inits["x_qdq_zero"].dtype == np.int8 and int(inits["x_qdq_zero"]) == 0
    assert inits["r_qdq_zero"].dtype == np.uint8
    got, want = _run(qdq, x), _run(fp32, x)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    # per-tensor fixed scales: a row does not depend on its batch
    alone = np.concatenate([_run(qdq, x[i : i + 1]) for i in range(len(x))])
    assert np.abs(got - alone).max() < 1e-6


def test_nodes_are_in_topological_order() -> None:
    fp32 = _model()
    x = np.ones((2, 16), dtype=np.float32)
    qdq = with_qdq(fp32, _ranges(fp32, x))
    known = {"x"} | {i.name for i in qdq.graph.initializer}
    for node in qdq.graph.node:
        assert all(name in known for name in node.input if name), node.name
        known.update(node.output)


def test_a_linear_input_without_a_range_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="model calibrate"):
        with_qdq(_model(), {"x": (-1.0, 1.0)})
    old = tmp_path / "ranges.json"
    old.write_text(json.dumps({"ranges": {"x": [-1.0, 1.0]}}))
    with pytest.raises(ConfigurationError, match=QDQ_RANGES_KEY):
        load_ranges(old, key=QDQ_RANGES_KEY)

"""Fixed int8 activation scales: the graph rewrite on a small quantised model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

from shared.errors import ConfigurationError
from shared.inference.static_int8 import (
    dynamic_inputs,
    load_ranges,
    quant_params,
    with_static_activations,
)
from tests.support.onnx_models import two_layers


def _two_layers(tmp_path: Path) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    fp32 = two_layers()
    src, dst = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(fp32, str(src))
    quantize_dynamic(src, dst, per_channel=True, reduce_range=False, weight_type=QuantType.QInt8)
    return fp32, onnx.load(str(dst))


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(["y"], {"x": x})[0])


def test_fixed_scales_make_rows_independent_of_their_batch(tmp_path: Path) -> None:
    fp32, dynamic = _two_layers(tmp_path)
    names = dynamic_inputs(dynamic)
    assert names == ["x", "r"]
    x = np.random.default_rng(1).standard_normal((6, 16)).astype(np.float32)
    hidden = np.maximum(x @ numpy_helper.to_array(fp32.graph.initializer[0]), 0)
    ranges = {"x": (float(x.min()), float(x.max())), "r": (0.0, float(hidden.max()))}
    static = with_static_activations(dynamic, ranges)
    ops = [n.op_type for n in static.graph.node]
    assert "DynamicQuantizeLinear" not in ops and "MatMulInteger" not in ops
    assert ops.count("MatMulIntegerToFloat") == 2 and ops.count("QuantizeLinear") == 2
    onnx.checker.check_model(static)
    together = _run(static, x)
    alone = np.concatenate([_run(static, x[i : i + 1]) for i in range(len(x))])
    assert np.abs(together - alone).max() < 1e-6
    # the dynamic graph's rows do depend on their batch-mates; both stay close to fp32
    dyn_alone = np.concatenate([_run(dynamic, x[i : i + 1]) for i in range(len(x))])
    assert np.abs(_run(dynamic, x) - dyn_alone).max() > 1e-4
    np.testing.assert_allclose(together, _run(fp32, x), atol=0.1)


def test_a_tensor_without_a_range_is_a_configuration_error(tmp_path: Path) -> None:
    _, dynamic = _two_layers(tmp_path)
    with pytest.raises(ConfigurationError, match="model calibrate"):
        with_static_activations(dynamic, {"x": (-1.0, 1.0)})
    with pytest.raises(ConfigurationError, match="model calibrate"):
        load_ranges(tmp_path / "missing.json")


def test_quant_params_hold_zero_and_cover_the_range() -> None:
    scale, zero = quant_params(-2.0, 6.0)
    assert float(scale) == pytest.approx(8.0 / 255.0)
    assert int(zero) == round(2.0 / float(scale))
    assert quant_params(1.0, 3.0)[1] == 0  # widened down to 0
    assert int(quant_params(-3.0, -1.0)[1]) == 255  # widened up to 0
    assert quant_params(0.0, 0.0) == (np.float32(1.0), np.uint8(0))

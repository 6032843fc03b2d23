"""The int8 variant in QDQ form, for the OpenVINO execution provider.

ONNX Runtime's CPU provider runs the ``int8`` variant's fused contrib ops
(``MatMulIntegerToFloat``, ``QAttention``; :mod:`shared.inference.static_int8`). OpenVINO reads
standard ONNX only: here the *unfused* fp32 graph of :mod:`shared.inference.graph` gets a
``QuantizeLinear`` → ``DequantizeLinear`` pair on the input of every linear layer and its
weight stored as int8 behind a ``DequantizeLinear``; OpenVINO folds each pattern into one
int8 matrix product (AMX-INT8 / VNNI kernels on recent Xeons).

Weights are symmetric int8 per output channel (the largest magnitude of each column maps to
127). Activations are symmetric int8 (OpenVINO's fastest form) where their calibrated range is
nearly symmetric, and uint8 with a zero point, as in the ``int8`` variant, where it is skewed
(GELU's output, most LayerNorm outputs): all-symmetric was faster but moved scores across
policy bands (docs/MODEL_CARD.md, "Speed", OpenVINO). The ranges come from
``clearpath model calibrate`` (mean over calibration batches, as for ``int8``), committed in
``shared/model_assets/int8_ranges.json`` under ``qdq_ranges``. Embeddings, LayerNorms,
GELU and the attention core stay float.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from shared.errors import ConfigurationError
from shared.inference.static_int8 import quant_params

__all__ = ["QDQ_RANGES_KEY", "SYMMETRIC_RATIO", "linear_inputs", "with_qdq"]

#: An activation whose range is this close to symmetric (smaller side / larger side) is
#: quantised as symmetric int8, OpenVINO's fastest form; a skewed one as uint8 with a zero
#: point, as the ``int8`` variant does, which keeps twice the resolution there.
SYMMETRIC_RATIO = 0.8

#: The section of the committed ranges file that holds this variant's activation ranges.
QDQ_RANGES_KEY = "qdq_ranges"


def _linear_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    weights = {init.name for init in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def linear_inputs(model: onnx.ModelProto) -> list[str]:
    """The activations that enter a linear layer (a MatMul by a weight), in graph order, once."""
    return list(dict.fromkeys(n.input[0] for n in _linear_nodes(model)))


def _symmetric_scale(magnitude: float) -> np.float32:
    return np.float32(magnitude / 127.0) if magnitude > 0.0 else np.float32(1.0)


def _nearly_symmetric(low: float, high: float) -> bool:
    """Symmetric int8 costs this range little resolution (at most 1 - SYMMETRIC_RATIO)."""
    small, large = sorted((abs(low), abs(high)))
    return large > 0.0 and small >= SYMMETRIC_RATIO * large


def with_qdq(model: onnx.ModelProto, ranges: Mapping[str, tuple[float, float]]) -> onnx.ModelProto:
    """A copy of the fp32 graph with int8 QDQ around every linear layer."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    linears = _linear_nodes(out)
    inputs = linear_inputs(out)
    missing = [name for name in inputs if name not in ranges]
    if missing:
        raise ConfigurationError(
            f"no int8 activation range for {missing[:3]} (+{max(0, len(missing) - 3)} more): "
            "the graph changed since calibration; run `clearpath model calibrate`"
        )
    initializers = {init.name: init for init in graph.initializer}
    added: list[onnx.NodeProto] = []
    dequantized: dict[str, str] = {}
    for name in inputs:
        low, high = ranges[name]
        zero_value: np.ndarray
        if _nearly_symmetric(low, high):
            scale_value = _symmetric_scale(max(abs(low), abs(high)))
            zero_value = np.array(0, dtype=np.int8)
        else:  # skewed (GELU's output, most LayerNorm outputs): uint8 with a zero point
            scale_value, unsigned_zero = quant_params(low, high)
            zero_value = np.array(unsigned_zero, dtype=np.uint8)
        scale = numpy_helper.from_array(
            np.array(scale_value, dtype=np.float32), f"{name}_qdq_scale"
        )
        zero = numpy_helper.from_array(zero_value, f"{name}_qdq_zero")
        graph.initializer.extend([scale, zero])
        quantized, dequantized[name] = f"{name}_q", f"{name}_dq"
        added += [
            helper.make_node(
                "QuantizeLinear", [name, scale.name, zero.name], [quantized], name=f"{name}_Q"
            ),
            helper.make_node(
                "DequantizeLinear",
                [quantized, scale.name, zero.name],
                [dequantized[name]],
                name=f"{name}_DQ",
            ),
        ]
    for node in linears:
        activation, weight_name = node.input[0], node.input[1]
        weight = numpy_helper.to_array(initializers[weight_name]).astype(np.float32)
        if weight.ndim != 2:
            raise ConfigurationError(f"unexpected weight shape {weight.shape} in {node.name}")
        column_max = np.abs(weight).max(axis=0)
        scales = np.where(column_max > 0, column_max / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.rint(weight / scales), -127, 127).astype(np.int8)
        wq = numpy_helper.from_array(q, f"{weight_name}_int8")
        ws = numpy_helper.from_array(scales, f"{weight_name}_int8_scale")
        zeros = np.zeros_like(scales, dtype=np.int8)
        wz = numpy_helper.from_array(zeros, f"{weight_name}_int8_zero")
        graph.initializer.extend([wq, ws, wz])
        added.append(
            helper.make_node(
                "DequantizeLinear",
                [wq.name, ws.name, wz.name],
                [f"{weight_name}_dq"],
                name=f"{weight_name}_DQ",
                axis=1,
            )
        )
        node.input[0] = dequantized[activation]
        node.input[1] = f"{weight_name}_dq"
    # Topological order: each Q/DQ placed (with what it reads) right before its first reader.
    graph_nodes = list(graph.node)
    del graph.node[:]
    pending = {n.output[0]: n for n in added}
    placed: set[str] = set()

    def place(tensor: str) -> None:
        node = pending.get(tensor)
        if node is None or tensor in placed:
            return
        for source in node.input:
            place(source)
        placed.add(tensor)
        graph.node.append(node)

    for node in graph_nodes:
        for source in node.input:
            place(source)
        graph.node.append(node)
    used = {name for n in graph.node for name in n.input}
    kept = [init for init in graph.initializer if init.name in used]  # fp32 weights go
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return out

"""Build the all-MiniLM-L6-v2 sentence encoder as an ONNX graph from its safetensors weights.

No torch: the weights are read with the safetensors numpy API and the graph is written with
``onnx.helper``. The graph follows the node patterns of a Hugging Face BERT export (Q/K/V
MatMul+Add, Reshape/Transpose, Div by sqrt(d), additive mask, Softmax, erf GELU, Add before
LayerNormalization) so that ONNX Runtime's transformer optimizer fuses it fully
(EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu). It ends with
sentence-transformers' mean pooling over the attention mask and L2 normalisation.

Inputs: ``input_ids`` and ``attention_mask`` (int64, [batch, seq]); output:
``sentence_embedding`` (float32, [batch, 384], unit length). The token-type embedding of
segment 0 is folded into the word embeddings (single-segment inputs only).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

__all__ = ["EMBEDDING_DIM", "build_encoder_graph", "encoder_config"]

EMBEDDING_DIM = 384
_OPSET = 17


def encoder_config(model_dir: Path) -> dict[str, int | float]:
    """The BERT hyper-parameters the graph needs, read from the shipped config.json."""
    raw = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return {
        "hidden": int(raw["hidden_size"]),
        "heads": int(raw["num_attention_heads"]),
        "layers": int(raw["num_hidden_layers"]),
        "eps": float(raw["layer_norm_eps"]),
    }


class _Builder:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: NDArray[np.generic]) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        self._n += 1
        out = f"{op_type.lower()}_{self._n}"
        self.nodes.append(
            helper.make_node(op_type, inputs, [out], name=f"{op_type}_{self._n}", **attrs)
        )
        return out


def _linear(
    b: _Builder, x: str, w: NDArray[np.float32], bias: NDArray[np.float32], name: str
) -> str:
    """x @ W^T + b, as MatMul + Add (the pattern the optimizer fuses)."""
    wt = b.const(f"{name}.weight_t", np.ascontiguousarray(w.T.astype(np.float32)))
    return b.op("Add", [b.op("MatMul", [x, wt]), b.const(f"{name}.bias", bias.astype(np.float32))])


def _layer_norm(
    b: _Builder, x: str, w: dict[str, NDArray[np.float32]], name: str, eps: float
) -> str:
    return b.op(
        "LayerNormalization",
        [
            x,
            b.const(f"{name}.weight", w[f"{name}.weight"]),
            b.const(f"{name}.bias", w[f"{name}.bias"]),
        ],
        axis=-1,
        epsilon=eps,
    )


def _attention(
    b: _Builder,
    x: str,
    mask_add: str,
    w: dict[str, NDArray[np.float32]],
    p: str,
    heads: int,
    hidden: int,
) -> str:
    head_dim = hidden // heads
    split = b.const(f"{p}.split_shape", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge = b.const(f"{p}.merge_shape", np.array([0, 0, hidden], dtype=np.int64))

    def proj(kind: str, perm: list[int]) -> str:
        y = _linear(
            b, x, w[f"{p}.self.{kind}.weight"], w[f"{p}.self.{kind}.bias"], f"{p}.self.{kind}"
        )
        return b.op("Transpose", [b.op("Reshape", [y, split])], perm=perm)

    q = proj("query", [0, 2, 1, 3])
    k = proj("key", [0, 2, 3, 1])
    v = proj("value", [0, 2, 1, 3])
    scale = b.const(f"{p}.scale", np.array(math.sqrt(head_dim), dtype=np.float32))
    scores = b.op("Add", [b.op("Div", [b.op("MatMul", [q, k]), scale]), mask_add])
    ctx = b.op("MatMul", [b.op("Softmax", [scores], axis=-1), v])
    ctx = b.op("Reshape", [b.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge])
    out = _linear(
        b, ctx, w[f"{p}.output.dense.weight"], w[f"{p}.output.dense.bias"], f"{p}.output.dense"
    )
    return b.op("Add", [out, x])


def _gelu(b: _Builder, x: str, p: str) -> str:
    half = b.op("Mul", [x, b.const(f"{p}.half", np.array(0.5, dtype=np.float32))])
    root2 = b.const(f"{p}.sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    erf = b.op("Erf", [b.op("Div", [x, root2])])
    return b.op(
        "Mul", [half, b.op("Add", [erf, b.const(f"{p}.one", np.array(1.0, dtype=np.float32))])]
    )


def _embeddings(b: _Builder, w: dict[str, NDArray[np.float32]], eps: float) -> str:
    word = w["embeddings.word_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    shape = b.op("Shape", ["input_ids"])
    seq = b.op("Gather", [shape, b.const("const_one_i64", np.array(1, dtype=np.int64))], axis=0)
    rng = b.op(
        "Range",
        [b.const("const_zero_i64", np.array(0, dtype=np.int64)), seq, "const_one_i64"],
    )
    pos_ids = b.op(
        "Expand",
        [b.op("Unsqueeze", [rng, b.const("axes_0", np.array([0], dtype=np.int64))]), shape],
    )
    tok = b.op(
        "Gather",
        [b.const("embeddings.word_embeddings.weight", word.astype(np.float32)), "input_ids"],
    )
    pos = b.op(
        "Gather",
        [
            b.const(
                "embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"]
            ),
            pos_ids,
        ],
    )
    return _layer_norm(b, b.op("Add", [tok, pos]), w, "embeddings.LayerNorm", eps)


def build_encoder_graph(model_dir: Path) -> onnx.ModelProto:
    """The encoder graph with mean pooling and L2 normalisation, float32, opset 17."""
    cfg = encoder_config(model_dir)
    hidden, heads, layers, eps = (
        int(cfg["hidden"]),
        int(cfg["heads"]),
        int(cfg["layers"]),
        float(cfg["eps"]),
    )
    raw = load_file(str(model_dir / "model.safetensors"))
    w = {k: v.astype(np.float32) for k, v in raw.items() if v.dtype != np.int64}
    b = _Builder()

    # Additive attention mask: (1 - mask) * -10000, broadcast over heads and query positions.
    mask4 = b.op(
        "Unsqueeze",
        [
            b.op("Unsqueeze", ["attention_mask", "axes_1"]),
            b.const("axes_2", np.array([2], dtype=np.int64)),
        ],
    )
    b.const("axes_1", np.array([1], dtype=np.int64))
    inverted = b.op(
        "Sub",
        [
            b.const("const_one_f", np.array(1.0, dtype=np.float32)),
            b.op("Cast", [mask4], to=TensorProto.FLOAT),
        ],
    )
    mask_add = b.op(
        "Mul", [inverted, b.const("const_neg_large", np.array(-10000.0, dtype=np.float32))]
    )

    h = _embeddings(b, w, eps)
    for i in range(layers):
        p = f"encoder.layer.{i}"
        a = _attention(b, h, mask_add, w, f"{p}.attention", heads, hidden)
        a = _layer_norm(b, a, w, f"{p}.attention.output.LayerNorm", eps)
        inter = _linear(
            b,
            a,
            w[f"{p}.intermediate.dense.weight"],
            w[f"{p}.intermediate.dense.bias"],
            f"{p}.intermediate.dense",
        )
        out = _linear(
            b,
            _gelu(b, inter, p),
            w[f"{p}.output.dense.weight"],
            w[f"{p}.output.dense.bias"],
            f"{p}.output.dense",
        )
        h = _layer_norm(b, b.op("Add", [out, a]), w, f"{p}.output.LayerNorm", eps)

    # Mean pooling over real tokens, then L2 normalisation (sentence-transformers).
    m = b.op(
        "Unsqueeze",
        [
            b.op("Cast", ["attention_mask"], to=TensorProto.FLOAT),
            b.const("axes_last", np.array([-1], dtype=np.int64)),
        ],
    )
    summed = b.op("ReduceSum", [b.op("Mul", [h, m]), "axes_1"], keepdims=0)
    count = b.op(
        "Max",
        [
            b.op("ReduceSum", [m, "axes_1"], keepdims=0),
            b.const("const_min_count", np.array(1e-9, dtype=np.float32)),
        ],
    )
    mean = b.op("Div", [summed, count])
    norm = b.op("ReduceL2", [mean], axes=[-1], keepdims=1)
    norm = b.op("Max", [norm, b.const("const_min_norm", np.array(1e-12, dtype=np.float32))])
    b.nodes.append(
        helper.make_node("Div", [mean, norm], ["sentence_embedding"], name="Div_normalise")
    )

    dyn = ["batch", "sequence"]
    graph = helper.make_graph(
        b.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, dyn),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, dyn),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=b.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="clearpath"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model

"""Post-processing: the trained head over sentence embeddings, its calibration, max over windows.

The head ships in ``shared/model_assets`` as ``head.npz`` (weights) + ``head.json`` (labels,
architecture, per-label calibration, version). It runs in numpy: a logistic layer, or one
hidden ReLU layer then a logistic layer. Calibration is Platt scaling per label,
``p = sigmoid(a * logit + b)``, or, when the head stacks the lexical channel
(:mod:`shared.inference.lexical`, ``"lexical"`` in head.json), a two-input Platt
``p = sigmoid(a * logit + c * lexical_logit + b)``; the lexical logit is per text, the
encoder logit per window, and the text's score is the maximum over its windows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shared.errors import ConfigurationError
from shared.inference.lexical import LexicalModel, load_lexical

__all__ = [
    "DenseLayers",
    "Head",
    "load_head",
    "load_thresholds",
    "max_over_windows",
    "sigmoid",
]

F32 = NDArray[np.float32]


def sigmoid(x: NDArray[np.floating]) -> F32:
    return (0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))).astype(np.float32)


class DenseLayers:
    """The head's dense layers (affine, ReLU between) as a small one-thread ONNX Runtime session.

    Not numpy: its OpenBLAS ``sgemm`` on a batch x 384 x 512 product, run between two encoder
    calls, made the next call with parallel runs 10-14 ms slower (17 -> 27-33 ms for a batch
    of ten short texts on 2 cores; measured, cause inside OpenBLAS not found), while ONNX
    Runtime's own MatMul left it unchanged and took 0.05 ms instead of numpy's 0.08.
    """

    def __init__(self, layers: tuple[tuple[F32, F32], ...]) -> None:
        import onnx
        import onnxruntime as ort  # type: ignore[import-untyped]
        from onnx import TensorProto, helper, numpy_helper

        nodes, inits = [], []
        x = "x"
        for i, (w, b) in enumerate(layers):
            inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
            nodes += [
                helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]),
                helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
            ]
            x = f"a{i}"
            if i < len(layers) - 1:
                nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
                x = f"r{i}"
        nodes.append(helper.make_node("Identity", [x], ["logits"]))
        graph = helper.make_graph(
            nodes,
            "head",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", layers[0][0].shape[0]])],
            [
                helper.make_tensor_value_info(
                    "logits", TensorProto.FLOAT, ["n", layers[-1][0].shape[1]]
                )
            ],
            inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(model)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )

    def __call__(self, x: F32) -> F32:
        out = self._session.run(["logits"], {"x": np.ascontiguousarray(x, dtype=np.float32)})
        return np.asarray(out[0], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Head:
    """A calibrated multi-label head: ``labels`` in output order (``unsafe`` among them)."""

    version: str
    labels: tuple[str, ...]
    layers: tuple[tuple[F32, F32], ...]
    calib_a: F32
    calib_b: F32
    lexical: LexicalModel | None = None
    calib_c: F32 | None = None  # weight of the lexical logit, when ``lexical`` is set
    #: The layers as an ONNX Runtime session (``load_head`` builds it); numpy without it.
    dense: DenseLayers | None = field(default=None, compare=False, repr=False)

    def logits(self, emb: F32) -> F32:
        if self.dense is not None:
            if len(emb) == 0:
                return np.zeros((0, self.layers[-1][0].shape[1]), dtype=np.float32)
            return self.dense(emb)
        x = emb.astype(np.float32, copy=False)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x

    def probabilities(self, emb: F32, lexical_logits: F32 | None = None) -> F32:
        """Calibrated probabilities, [n, len(labels)].

        ``lexical_logits`` ([n, len(labels)], aligned with ``emb``'s rows) is required when the
        head stacks the lexical channel and ignored otherwise.
        """
        z = self.logits(emb) * self.calib_a + self.calib_b
        if self.lexical is not None:
            if lexical_logits is None:
                raise ValueError("this head stacks the lexical channel: pass lexical_logits")
            assert self.calib_c is not None
            z = z + lexical_logits * self.calib_c
        return sigmoid(z)


def load_head(directory: Path) -> Head:
    """Read ``head.json`` and ``head.npz`` from ``directory``."""
    meta_path, weights_path = directory / "head.json", directory / "head.npz"
    if not (meta_path.is_file() and weights_path.is_file()):
        raise ConfigurationError(
            f"classifier head not found in {directory}; run `clearpath model train` first"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    labels = tuple(str(x) for x in meta["labels"])
    with np.load(weights_path) as npz:
        n_layers = int(meta["layers"])
        layers = tuple(
            (npz[f"w{i}"].astype(np.float32), npz[f"b{i}"].astype(np.float32))
            for i in range(n_layers)
        )
    if layers[-1][0].shape[1] != len(labels):
        raise ConfigurationError(
            f"head in {directory} has {layers[-1][0].shape[1]} outputs for {len(labels)} labels"
        )
    calib = meta["calibration"]
    lexical = load_lexical(directory, labels) if meta.get("lexical") else None
    return Head(
        version=str(meta["version"]),
        labels=labels,
        layers=layers,
        calib_a=np.array([calib[lab]["a"] for lab in labels], dtype=np.float32),
        calib_b=np.array([calib[lab]["b"] for lab in labels], dtype=np.float32),
        lexical=lexical,
        calib_c=(
            np.array([calib[lab]["c"] for lab in labels], dtype=np.float32)
            if lexical is not None
            else None
        ),
        dense=DenseLayers(layers),
    )


def load_thresholds(directory: Path) -> Mapping[str, float]:
    """Per-category default thresholds (``thresholds.json`` → ``{"thresholds": {cat: t}}``)."""
    raw = json.loads((directory / "thresholds.json").read_text(encoding="utf-8"))
    return {str(k): float(v) for k, v in raw["thresholds"].items()}


def max_over_windows(probs: F32, text_index: NDArray[np.int64], n_texts: int) -> F32:
    """Per text, the maximum of each column over that text's windows."""
    out = np.zeros((n_texts, probs.shape[1]), dtype=np.float32)
    np.maximum.at(out, text_index, probs)
    return out

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shared.errors import ConfigurationError
from shared.inference.lexical import LexicalModel, load_lexical

__all__ = ["Head", "load_head", "load_thresholds", "max_over_windows", "sigmoid"]

F32 = NDArray[np.float32]


def sigmoid(x: NDArray[np.floating]) -> F32:
    return (0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))).astype(np.float32)


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

    def logits(self, emb: F32) -> F32:
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

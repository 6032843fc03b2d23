"""``clearpath model train``: fit the head on the permissive pool, calibrate, pick thresholds.

Recipe (see docs/MODEL_CARD.md): first-window embeddings of the int8 encoder; a small MLP
(one hidden ReLU layer of 512, masked multi-label BCE, class-balanced per label and
source-weighted) on the fixed train split of the permissive sources; Platt calibration and
thresholds (best F0.5 with benign FPR <= 2 %) on the validation split.
Writes head.npz, head.json and thresholds.json to ``out_dir``.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.inference.post import sigmoid
from shared.training.data import LABELS, SOURCES, Example
from shared.training.embed import PoolEmbeddings
from shared.training.fit import (
    choose_threshold,
    fit_platt,
    is_validation,
    source_weights,
    target_matrix,
)
from shared.training.mlp import fit_mlp

__all__ = [
    "EPOCHS",
    "HIDDEN",
    "MAX_BENIGN_FPR",
    "THRESHOLD_BETA",
    "TrainedHead",
    "fit_head",
    "save_head",
]

HIDDEN = 512
EPOCHS = 40
MAX_BENIGN_FPR = 0.02
#: F-beta for threshold choice: precision counts twice as much as recall.
THRESHOLD_BETA = 0.5


F = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TrainedHead:
    layers: tuple[tuple[F, F], ...]  # hidden ReLU layers, then the output layer
    calib: dict[str, tuple[float, float]]
    thresholds: dict[str, dict[str, float]]

    def logits(self, emb: NDArray[np.float32]) -> F:
        x = emb.astype(np.float64)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x

    def probabilities(self, emb: NDArray[np.float32]) -> F:
        a = np.array([self.calib[lab][0] for lab in LABELS])
        c = np.array([self.calib[lab][1] for lab in LABELS])
        return sigmoid(self.logits(emb) * a + c).astype(np.float64)


def per_text_probs(head: TrainedHead, pe: PoolEmbeddings, n_texts: int) -> F:
    """Runtime semantics: the maximum over each text's windows."""
    out = np.zeros((n_texts, len(LABELS)))
    np.maximum.at(out, pe.text_index, head.probabilities(pe.emb))
    return out


def fit_head(
    examples: list[Example],
    first: NDArray[np.float32],
    *,
    calibrate_on: NDArray[np.bool_] | None = None,
) -> TrainedHead:
    """Fit on the train split of ``examples``; calibrate and threshold on the validation split."""
    ship = {s.name for s in SOURCES if s.ship}
    in_ship = np.array([e.source in ship for e in examples])
    val = (
        np.array([is_validation(e.text) for e in examples])
        if calibrate_on is None
        else calibrate_on
    )
    train = in_ship & ~val
    y, x = target_matrix(examples), first.astype(np.float64)
    w = source_weights([e for e, t in zip(examples, train, strict=True) if t])
    hidden, out = fit_mlp(x[train], y[train], w, hidden=HIDDEN, epochs=EPOCHS)
    uncalibrated = TrainedHead((hidden, out), {lab: (1.0, 0.0) for lab in LABELS}, {})
    holdout = in_ship & val
    logits = uncalibrated.logits(first[holdout])
    calib = {lab: fit_platt(logits[:, j], y[holdout, j]) for j, lab in enumerate(LABELS)}
    head = TrainedHead((hidden, out), calib, {})
    prob = head.probabilities(first[holdout])
    benign = y[holdout, LABELS.index("unsafe")] == 0
    thresholds = {
        lab: choose_threshold(
            prob[:, j], y[holdout, j], benign, max_fpr=MAX_BENIGN_FPR, beta=THRESHOLD_BETA
        )
        for j, lab in enumerate(LABELS)
    }
    return TrainedHead((hidden, out), calib, thresholds)


def save_head(head: TrainedHead, out_dir: Path, *, recipe: dict[str, object]) -> str:
    """Write head.npz, head.json and thresholds.json; return the head version."""
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    arrays: dict[str, Any] = {}
    for i, (w, b) in enumerate(head.layers):
        arrays[f"w{i}"], arrays[f"b{i}"] = w.astype(np.float32), b.astype(np.float32)
    np.savez(buf, allow_pickle=False, **arrays)
    blob = buf.getvalue()
    version = f"mlp1-{hashlib.sha256(blob).hexdigest()[:8]}"
    (out_dir / "head.npz").write_bytes(blob)
    meta = {
        "version": version,
        "encoder": "all-MiniLM-L6-v2 (mean pooling, L2-normalised), int8 variant embeddings",
        "kind": "mlp" if len(head.layers) > 1 else "logistic",
        "layers": len(head.layers),
        "labels": list(LABELS),
        "calibration": {lab: {"a": a, "b": b} for lab, (a, b) in head.calib.items()},
        "recipe": recipe,
    }
    (out_dir / "head.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    thresholds = {
        "version": version,
        "chosen_by": f"best F0.5 on the validation split with benign FPR <= {MAX_BENIGN_FPR}",
        "thresholds": {lab: t["threshold"] for lab, t in head.thresholds.items()},
        "validation": head.thresholds,
    }
    (out_dir / "thresholds.json").write_text(
        json.dumps(thresholds, indent=2) + "\n", encoding="utf-8"
    )
    return version

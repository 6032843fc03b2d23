"""``clearpath model train``: fit the head on the permissive pool, calibrate, pick thresholds.

Recipe (see docs/MODEL_CARD.md): first-window embeddings of the int8 encoder; a small MLP
(one hidden ReLU layer of 512, masked multi-label BCE, class-balanced per label and
source-weighted) on the fixed train split of the permissive sources; optionally the lexical
channel (:mod:`shared.training.lexical`) fitted on the same rows and stacked with the MLP by a
two-input Platt scaling; calibration and thresholds (best F0.5 with benign FPR <= 2 %) on the
validation split. Writes head.npz, head.json, thresholds.json (and lexical.*) to ``out_dir``.
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
from shared.training.fit import (
    choose_threshold,
    fit_platt,
    is_validation,
    source_weights,
    target_matrix,
)
from shared.training.lexical import (
    LEXICAL_C,
    LEXICAL_SIZES,
    MIN_DF,
    FittedLexical,
    PoolCounts,
    fit_lexical,
    save_lexical,
)
from shared.training.mlp import fit_mlp_cached

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
    calib: dict[str, tuple[float, float]]  # per label (a, b): sigmoid(a * logit + b ...)
    thresholds: dict[str, dict[str, float]]
    lexical: FittedLexical | None = None
    lexical_calib: dict[str, float] | None = None  # per label c: ... + c * lexical_logit

    def logits(self, emb: NDArray[np.float32]) -> F:
        x = emb.astype(np.float64)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x

    def probabilities(self, emb: NDArray[np.float32], lexical_logits: F | None = None) -> F:
        """Calibrated probabilities; ``lexical_logits`` aligned with ``emb`` rows when stacked."""
        a = np.array([self.calib[lab][0] for lab in LABELS])
        b = np.array([self.calib[lab][1] for lab in LABELS])
        z = self.logits(emb) * a + b
        if self.lexical is not None:
            if lexical_logits is None:
                raise ValueError("this head stacks the lexical channel: pass lexical_logits")
            assert self.lexical_calib is not None
            z = z + lexical_logits * np.array([self.lexical_calib[lab] for lab in LABELS])
        return sigmoid(z).astype(np.float64)

    def text_probabilities(
        self,
        emb: NDArray[np.float32],
        text_index: NDArray[np.int64],
        window_texts: list[str],
        n_texts: int,
    ) -> F:
        """Runtime semantics: the maximum over each text's windows (``window_texts`` aligned
        with ``emb``: the whole text, or the window's character span)."""
        lex = None
        if self.lexical is not None:
            lex = self.lexical.model.logits(window_texts).astype(np.float64)
        out = np.zeros((n_texts, len(LABELS)))
        np.maximum.at(out, text_index, self.probabilities(emb, lex))
        return out


def _fit_stacked_platt(z: F, zl: F, y: F) -> tuple[float, float, float]:
    """Two-input Platt scaling p = sigmoid(a * z + c * zl + b) on rows where y is known."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    known = ~np.isnan(y)
    if len(np.unique(y[known])) < 2:
        return 1.0, 0.0, 0.0
    model = LogisticRegression(C=1e4, max_iter=1000)
    model.fit(np.c_[z[known], zl[known]], y[known].astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0]), float(model.coef_[0, 1])


def fit_head(
    examples: list[Example],
    first: NDArray[np.float32],
    *,
    calibrate_on: NDArray[np.bool_] | None = None,
    cache_dir: Path | None = None,
    counts: PoolCounts | None = None,
) -> TrainedHead:
    """Fit on the train split of ``examples``; calibrate and threshold on the validation split.

    With ``counts`` (the n-gram counts of ``examples``, row-aligned) the lexical channel is
    fitted on the same train rows and stacked with the MLP's logits by a two-input Platt
    scaling on the validation rows. ``cache_dir`` memoises the (deterministic) MLP fit.
    """
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
    hidden, out = fit_mlp_cached(
        x[train], y[train], w, cache_dir=cache_dir, hidden=HIDDEN, epochs=EPOCHS
    )
    uncalibrated = TrainedHead((hidden, out), {lab: (1.0, 0.0) for lab in LABELS}, {})
    holdout = in_ship & val
    logits = uncalibrated.logits(first[holdout])
    lexical, lex_calib, lex_holdout = None, None, None
    if counts is None:
        calib = {lab: fit_platt(logits[:, j], y[holdout, j]) for j, lab in enumerate(LABELS)}
    else:
        lexical = fit_lexical(counts, train, y[train], w, LABELS, cache_dir=cache_dir)
        lex_holdout = lexical.pool_logits(counts, holdout)
        stacked = [
            _fit_stacked_platt(logits[:, j], lex_holdout[:, j], y[holdout, j])
            for j in range(len(LABELS))
        ]
        calib = {lab: (a, b) for lab, (a, b, _) in zip(LABELS, stacked, strict=True)}
        lex_calib = {lab: c for lab, (_, _, c) in zip(LABELS, stacked, strict=True)}
    head = TrainedHead((hidden, out), calib, {}, lexical, lex_calib)
    prob = head.probabilities(first[holdout], lex_holdout)
    benign = y[holdout, LABELS.index("unsafe")] == 0
    thresholds = {
        lab: choose_threshold(
            prob[:, j], y[holdout, j], benign, max_fpr=MAX_BENIGN_FPR, beta=THRESHOLD_BETA
        )
        for j, lab in enumerate(LABELS)
    }
    return TrainedHead((hidden, out), calib, thresholds, lexical, lex_calib)


def save_head(head: TrainedHead, out_dir: Path, *, recipe: dict[str, object]) -> str:
    """Write head.npz, head.json, thresholds.json (and lexical.*); return the head version."""
    out_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    arrays: dict[str, Any] = {}
    for i, (w, b) in enumerate(head.layers):
        arrays[f"w{i}"], arrays[f"b{i}"] = w.astype(np.float32), b.astype(np.float32)
    np.savez(buf, allow_pickle=False, **arrays)
    blob = buf.getvalue()
    version = f"mlp1-{hashlib.sha256(blob).hexdigest()[:8]}"
    lexical_meta: dict[str, object] | None = None
    if head.lexical is not None:
        digest = save_lexical(
            head.lexical.model,
            out_dir,
            recipe={"sizes": LEXICAL_SIZES, "C": LEXICAL_C, "min_df": MIN_DF},
        )
        version = f"{version}+lex-{digest}"
        lexical_meta = {
            "files": ["lexical.json", "lexical.npz"],
            "digest": digest,
            "stacking": "p = sigmoid(a * mlp_logit + c * lexical_logit + b), per label",
        }
    else:
        for stale in ("lexical.json", "lexical.npz"):
            (out_dir / stale).unlink(missing_ok=True)
    (out_dir / "head.npz").write_bytes(blob)
    calibration: dict[str, dict[str, float]] = {}
    for lab, (ca, cb) in head.calib.items():
        calibration[lab] = {"a": ca, "b": cb}
        if head.lexical_calib is not None:
            calibration[lab]["c"] = head.lexical_calib[lab]
    meta = {
        "version": version,
        "encoder": "all-MiniLM-L6-v2 (mean pooling, L2-normalised), int8 variant embeddings",
        "kind": "mlp" if len(head.layers) > 1 else "logistic",
        "layers": len(head.layers),
        "labels": list(LABELS),
        "calibration": calibration,
        **({"lexical": lexical_meta} if lexical_meta is not None else {}),
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

"""Fitting: the fixed split, source weights, the per-label logistic head, Platt calibration,
per-category thresholds and the metrics they are judged by (AUPRC, F1, FPR, ECE).

Pure numpy + scikit-learn (the ``train`` extra); nothing here is imported at serving time.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from shared.training.data import Example

__all__ = [
    "auprc", "choose_threshold", "ece", "fit_logistic", "fit_platt", "is_validation",
    "source_weights", "target_matrix", "weights_by_source",
]  # fmt: skip

F = NDArray[np.float64]
#: Fixed, documented split: a text is in validation when sha1(text) mod 5 == 0 (20 %).
VALIDATION_MODULUS = 5


def is_validation(text: str) -> bool:
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % VALIDATION_MODULUS == 0


def target_matrix(examples: Sequence[Example]) -> F:
    """Targets as floats with NaN where a label is unknown."""
    return np.array(
        [[np.nan if t is None else float(t) for t in e.targets] for e in examples], dtype=np.float64
    )


def source_weights(examples: Sequence[Example]) -> F:
    """Row weights that damp big sources and lift small ones: sqrt(median / n), in [0.25, 4]."""
    return weights_by_source(
        [e.source for e in examples], np.array([e.weight for e in examples], dtype=np.float64)
    )


def weights_by_source(sources: Sequence[str], row_weight: F) -> F:
    """``row_weight`` times sqrt(median source size / source size), clipped to [0.25, 4]."""
    counts = Counter(sources)
    median = float(np.median(list(counts.values())))
    factor = {s: float(np.clip(np.sqrt(median / n), 0.25, 4.0)) for s, n in counts.items()}
    return row_weight * np.array([factor[s] for s in sources], dtype=np.float64)


def fit_logistic(x: F, y: F, w: F, *, c: float) -> tuple[F, float]:
    """One label: class-balanced, weighted L2 logistic regression on rows where y is known."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    known = ~np.isnan(y)
    yk, wk = y[known].astype(int), w[known]
    pos = wk[yk == 1].sum()
    neg = wk[yk == 0].sum()
    bal = np.where(yk == 1, 0.5 / max(pos, 1e-9), 0.5 / max(neg, 1e-9)) * len(yk)
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x[known], yk, sample_weight=wk * bal)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def fit_platt(logit: F, y: F) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a * logit + b), fitted on validation rows where y is known."""
    from sklearn.linear_model import LogisticRegression

    known = ~np.isnan(y)
    if len(np.unique(y[known])) < 2:
        return 1.0, 0.0
    model = LogisticRegression(C=1e4, max_iter=1000)
    model.fit(logit[known].reshape(-1, 1), y[known].astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def auprc(score: F, y: F) -> float | None:
    from sklearn.metrics import average_precision_score  # type: ignore[import-untyped]

    known = ~np.isnan(y)
    if len(np.unique(y[known])) < 2:
        return None
    return float(average_precision_score(y[known], score[known]))


def ece(prob: F, y: F, bins: int = 15) -> float:
    """Expected calibration error with equal-width bins."""
    known = ~np.isnan(y)
    p, t = prob[known], y[known]
    if len(p) == 0:
        return float("nan")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.sum() * abs(p[sel].mean() - t[sel].mean())
    return float(total / len(p))


def choose_threshold(
    prob: F, y: F, benign: NDArray[np.bool_], *, max_fpr: float, beta: float = 0.5
) -> dict[str, float]:
    """The threshold with the best F-beta among those with benign FPR at most ``max_fpr``.

    beta = 0.5 weighs precision twice as much as recall: a refused legitimate request is a
    failure the product measures, and weak categories otherwise get very low thresholds.
    """
    known = ~np.isnan(y)
    best = {"threshold": 0.5, "fbeta": 0.0, "f1": 0.0, "precision": 0.0, "recall": 0.0}
    best["benign_fpr"] = 0.0
    n_benign = max(int(benign.sum()), 1)
    b2 = beta * beta
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        flagged = prob >= t
        tp = float((flagged & known & (y == 1)).sum())
        fp = float((flagged & known & (y == 0)).sum())
        fn = float((~flagged & known & (y == 1)).sum())
        fpr = float((flagged & benign).sum()) / n_benign
        if fpr > max_fpr or tp == 0:
            continue
        prec, rec = tp / (tp + fp), tp / (tp + fn)
        fbeta = (1 + b2) * prec * rec / (b2 * prec + rec)
        if fbeta > best["fbeta"]:
            best = {
                "threshold": float(t),
                "fbeta": fbeta,
                "f1": 2 * prec * rec / (prec + rec),
                "precision": prec,
                "recall": rec,
                "benign_fpr": fpr,
            }
    return best

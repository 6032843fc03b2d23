"""Transfer-oriented evaluation: per-category validation metrics, leave-one-source-out,
external (non-permissive, never trained on) sources, the contrast set, and the
alt-profanity-check baseline beside ours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shared.training.data import CATEGORIES, LABELS, SOURCES, Example
from shared.training.fit import auprc, ece, is_validation, target_matrix
from shared.training.lexical import PoolCounts
from shared.training.train import TrainedHead, fit_head

__all__ = ["category_metrics", "flag_rate", "loso", "per_source", "scored_sections"]

F = NDArray[np.float64]
U = LABELS.index("unsafe")


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def category_metrics(
    prob: F, y: F, thresholds: dict[str, float], raw: F | None = None
) -> dict[str, object]:
    """AUPRC, F1 at threshold, FPR on benign rows, ECE (and ECE before calibration)."""
    benign = y[:, U] == 0
    out: dict[str, object] = {}
    for j, lab in enumerate(LABELS):
        known = ~np.isnan(y[:, j])
        t = thresholds[lab]
        flagged = prob[:, j] >= t
        tp = float((flagged & known & (y[:, j] == 1)).sum())
        fp = float((flagged & known & (y[:, j] == 0)).sum())
        fn = float((~flagged & known & (y[:, j] == 1)).sum())
        f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
        out[lab] = {
            "positives": int((y[known, j] == 1).sum()),
            "auprc": _r(auprc(prob[:, j], y[:, j])),
            "threshold": t,
            "f1": _r(f1),
            "benign_fpr": _r(float((flagged & benign).sum()) / max(int(benign.sum()), 1)),
            "ece": _r(ece(prob[:, j], y[:, j])),
            **({"ece_uncalibrated": _r(ece(raw[:, j], y[:, j]))} if raw is not None else {}),
        }
    return out


def per_source(
    examples: Sequence[Example], prob: F, thresholds: dict[str, float], rows: NDArray[np.bool_]
) -> dict[str, dict[str, object]]:
    """Per source: unsafe AUPRC (when both classes occur), flag rate of harmful and benign rows."""
    y = target_matrix(examples)
    out: dict[str, dict[str, object]] = {}
    for src in sorted({e.source for e, r in zip(examples, rows, strict=True) if r}):
        sel = rows & np.array([e.source == src for e in examples])
        flagged = prob[sel, U] >= thresholds["unsafe"]
        harmful = y[sel, U] == 1
        out[src] = {
            "rows": int(sel.sum()),
            "unsafe_auprc": _r(auprc(prob[sel, U], y[sel, U])),
            "recall_harmful": _r(flagged[harmful].mean()) if harmful.any() else None,
            "fpr_benign": _r(flagged[~harmful].mean()) if (~harmful).any() else None,
            "category_auprc": {
                c: _r(auprc(prob[sel, j], y[sel, j]))
                for j, c in enumerate(CATEGORIES)
                if np.nansum(y[sel, j]) >= 5
            },
        }
    return out


def loso(
    examples: list[Example],
    first: NDArray[np.float32],
    probs_for: Callable[[TrainedHead, NDArray[np.bool_]], F],
    thresholds: dict[str, float],
    *,
    counts: PoolCounts | None = None,
    cache_dir: Path | None = None,
) -> dict[str, dict[str, object]]:
    """Leave one permissive source out: fit on the others' train split, score the whole source.

    With ``counts`` the lexical channel is refitted in each fold too (vocabulary and idf from
    the fold's train rows only).
    """
    val = np.array([is_validation(e.text) for e in examples])
    result: dict[str, dict[str, object]] = {}
    for src in (s.name for s in SOURCES if s.ship):
        held = np.array([e.source == src for e in examples])
        if not held.any():
            continue
        kept = [e for e, h in zip(examples, held, strict=True) if not h]
        head = fit_head(
            kept,
            first[~held],
            calibrate_on=val[~held],
            cache_dir=cache_dir,
            counts=None if counts is None else counts.subset(~held),
        )
        prob = probs_for(head, held)
        result.update(
            per_source(
                [e for e, h in zip(examples, held, strict=True) if h],
                prob,
                thresholds,
                np.ones(int(held.sum()), dtype=bool),
            )
        )
    return result


def flag_rate(prob: F, thresholds: dict[str, float]) -> float:
    """Fraction of rows on which any category or unsafe reaches its threshold."""
    t = np.array([thresholds[lab] for lab in LABELS])
    return float((prob >= t).any(axis=1).mean()) if len(prob) else 0.0


def scored_sections(
    examples: Sequence[Example],
    prob: F,
    thresholds: dict[str, float],
    *,
    validation: NDArray[np.bool_],
    external: NDArray[np.bool_],
    contrast: F,
    harmful: F,
    raw: F | None = None,
) -> dict[str, object]:
    """The metrics sections a scored pool gives: validation per category and per source,
    external per source and pooled, the contrast and harmful sets (``prob`` needs only the
    ``validation`` and ``external`` rows filled; ``contrast``/``harmful`` are their probs)."""
    y = target_matrix(examples)
    return {
        "validation": category_metrics(
            prob[validation],
            y[validation],
            thresholds,
            raw=None if raw is None else raw[validation],
        ),
        "validation_per_source": per_source(examples, prob, thresholds, validation),
        "external_per_source": per_source(examples, prob, thresholds, external),
        "external_unsafe_auprc": auprc(prob[external, U], y[external, U]),
        "contrast": {
            "prompts": len(contrast),
            "flagged_any": flag_rate(contrast, thresholds),
            "flagged_unsafe": float((contrast[:, U] >= thresholds["unsafe"]).mean()),
            "flagged_ids": [i for i, row in enumerate(contrast) if row[U] >= thresholds["unsafe"]],
        },
        "harmful": {
            "prompts": len(harmful),
            "flagged_unsafe": float((harmful[:, U] >= thresholds["unsafe"]).mean()),
        },
    }

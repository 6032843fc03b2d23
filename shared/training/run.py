"""Orchestrates ``clearpath model train``: load the pool, embed (cached), fit, evaluate, write.

Writes head.npz, head.json, thresholds.json, metrics.json (and lexical.json/lexical.npz when
the lexical channel is stacked) into ``out_dir`` (by default the committed
``shared/model_assets``). Embeddings are cached under ~/.cache/clearpath/embeddings, n-gram
counts under ~/.cache/clearpath/lexical, and deterministic fits (MLP, lexical model, every
leave-one-source-out fold) under ~/.cache/clearpath/heads.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from shared.inference.classifier import OnnxClassifier, build_encoder
from shared.inference.core import Encoder
from shared.inference.pre import TextTokenizer
from shared.settings import ModelSettings
from shared.training.data import LABELS, SOURCES, Example, load_pool
from shared.training.embed import (
    PoolEmbeddings,
    cap_windows,
    default_embedding_cache,
    embed_texts,
)
from shared.training.evaluate import loso, scored_sections
from shared.training.fit import is_validation, target_matrix
from shared.training.lexical import LEXICAL_SIZES, pool_counts
from shared.training.train import (
    EPOCHS,
    HIDDEN,
    MAX_BENIGN_FPR,
    TrainedHead,
    fit_head,
    save_head,
)

__all__ = [
    "decision_summary",
    "evaluate_served",
    "load_jsonl_texts",
    "train_and_evaluate",
]

if TYPE_CHECKING:
    from shared.pipeline import ScoredDecide

_log = logging.getLogger(__name__)
#: Stack the lexical n-gram channel with the MLP (measured: docs/MODEL_CARD.md).
STACK_LEXICAL = True
_HERE = Path(__file__).resolve().parent
F = NDArray[np.float64]


def load_jsonl_texts(path: Path) -> list[str]:
    return [
        json.loads(line)["text"]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def _embed_pool(
    examples: list[Example], enc: Encoder, tok: TextTokenizer, cache: Path
) -> tuple[NDArray[np.float32], PoolEmbeddings]:
    firsts, embs, idxs, poss = [], [], [], []
    offset = 0
    for src in SOURCES:
        texts = [e.text for e in examples if e.source == src.name]
        if not texts:
            continue
        pe = embed_texts(texts, encoder=enc, tokenizer=tok, cache_dir=cache, name=src.name)
        firsts.append(pe.first(len(texts)))
        embs.append(pe.emb)
        idxs.append(pe.text_index + offset)
        poss.append(pe.position)
        offset += len(texts)
    return np.concatenate(firsts), PoolEmbeddings(
        np.concatenate(embs), np.concatenate(idxs), np.concatenate(poss)
    )


def _texts_probs(
    head: TrainedHead, texts: list[str], enc: Encoder, tok: TextTokenizer, cache: Path, name: str
) -> F:
    """Served semantics on raw texts (the lexical channel through the runtime featuriser)."""
    pe = embed_texts(texts, encoder=enc, tokenizer=tok, cache_dir=cache, name=name)
    kept, _ = cap_windows(tok.windows(texts))
    assert [w.text_index for w in kept] == pe.text_index.tolist()
    return head.text_probabilities(pe.emb, pe.text_index, [w.text(texts) for w in kept], len(texts))


def evaluate_served(
    classifier: OnnxClassifier,
    datasets: Path,
    thresholds: dict[str, float],
    *,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
    decide: ScoredDecide | None = None,
) -> dict[str, object]:
    """The shipped head as served (this encoder variant and provider, max over windows),
    re-measured on the validation rows of the permissive sources, the external sources and
    the contrast and harmful sets, at the shipped ``thresholds`` (nothing is refitted).

    ``train`` measures the head on the encoder it was fitted with; this measures what a
    deployment serves: another variant (fp16 on a GPU, int8-qdq on OpenVINO) or an encoder
    rebuilt since the fit. With ``decide`` (``(text, scores, profile, purpose) -> action``,
    e.g. :func:`shared.pipeline.scored_decider` over a policy) the report also says what
    that policy does with each group of rows (``decisions``).
    """
    if tuple(classifier.labels) != LABELS:
        raise ValueError(f"classifier labels {classifier.labels} differ from {LABELS}")
    examples = load_pool(datasets)
    shipped = {s.name for s in SOURCES if s.ship}
    ship = np.array([e.source in shipped for e in examples])
    val = np.array([is_validation(e.text) for e in examples]) & ship
    external = ~ship
    rows = np.flatnonzero(val | external)
    prob = np.zeros((len(examples), len(LABELS)))
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        prob[part] = classifier.score_texts([examples[i].text for i in part])
        if progress is not None:
            progress(len(part))
    contrast_texts = load_jsonl_texts(_HERE / "contrast.jsonl")
    harmful_texts = load_jsonl_texts(_HERE / "harmful.jsonl")
    contrast = classifier.score_texts(contrast_texts)
    harmful = classifier.score_texts(harmful_texts)
    report: dict[str, object] = {
        "classifier": classifier.version,
        "rows": {"validation": int(val.sum()), "external": int(external.sum())},
        **scored_sections(
            examples,
            prob,
            thresholds,
            validation=val,
            external=external,
            contrast=contrast.astype(np.float64),
            harmful=harmful.astype(np.float64),
        ),
    }
    if decide is not None:
        harm = target_matrix(examples)[:, -1] == 1
        groups: dict[str, tuple[list[str], NDArray[np.floating]]] = {}
        for name, sel in (
            ("validation_harmful", val & harm),
            ("validation_benign", val & ~harm),
            ("external_harmful", external & harm),
            ("external_benign", external & ~harm),
        ):
            idx = np.flatnonzero(sel)
            groups[name] = ([examples[i].text for i in idx], prob[idx])
        groups["contrast"] = (contrast_texts, contrast)
        groups["harmful"] = (harmful_texts, harmful)
        report["decisions"] = {
            name: decision_summary(texts, probs, decide) for name, (texts, probs) in groups.items()
        }
    return report


#: Actions that change the answer: everything but a plain (or redacted) answer.
_NOTICE_FREE = frozenset({"allow", "redact"})
_STRONG = frozenset({"refuse", "refer", "escalate"})


def decision_summary(
    texts: Sequence[str], probs: NDArray[np.floating], decide: ScoredDecide
) -> dict[str, object]:
    """What a policy does with these rows: actions counted, the share answered with a notice
    (any action but allow / redact) and the share refused, referred or escalated."""
    counts: Counter[str] = Counter()
    for text, row in zip(texts, probs, strict=True):
        counts[decide(text, dict(zip(LABELS, map(float, row), strict=True)), None, None)] += 1
    n = max(len(texts), 1)
    return {
        "rows": len(texts),
        "notice": round(sum(v for k, v in counts.items() if k not in _NOTICE_FREE) / n, 4),
        "refused_referred_escalated": round(sum(counts[k] for k in _STRONG) / n, 4),
        "actions": dict(sorted(counts.items())),
    }


def _baseline(texts: list[str]) -> F:
    from profanity_check import predict_prob  # type: ignore[import-untyped]

    return np.asarray(predict_prob(texts), dtype=np.float64)


def train_and_evaluate(
    datasets: Path, out_dir: Path, *, run_loso: bool = True, lexical: bool = STACK_LEXICAL
) -> dict[str, object]:
    """Fit the shipped head and write it with its metrics; returns the metrics."""
    examples = load_pool(datasets)
    enc, tok = build_encoder(ModelSettings(variant="int8", provider="cpu", intra_op_threads=2))
    cache = default_embedding_cache()
    first, windows = _embed_pool(examples, enc, tok, cache)
    counts = (
        pool_counts([e.text for e in examples], cache_dir=cache.parent / "lexical")
        if lexical
        else None
    )
    fits = cache.parent / "heads"
    head = fit_head(examples, first, cache_dir=fits, counts=counts)
    thresholds = {lab: t["threshold"] for lab, t in head.thresholds.items()}
    # Windows of texts longer than one window: the lexical channel scores their character
    # spans, as served (single-window texts: the whole text, from the pool counts).
    all_texts = [e.text for e in examples]
    kept, _ = cap_windows(tok.windows(all_texts))
    assert len(kept) == len(windows.emb)
    split = np.array([w.span is not None for w in kept])
    span_texts = {j: kept[j].text(all_texts) for j in np.flatnonzero(split)}

    def probs_for(h: TrainedHead, rows: NDArray[np.bool_]) -> F:
        """Max over windows of the texts in ``rows`` (in row order)."""
        sel = rows[windows.text_index]
        local = (np.cumsum(rows) - 1)[windows.text_index[sel]]
        lex = None
        if h.lexical is not None:
            assert counts is not None
            lex = h.lexical.pool_logits(counts, rows)[local]
            spans = np.flatnonzero(split[sel])
            if len(spans):
                ids = np.flatnonzero(sel)[spans]
                lex[spans] = h.lexical.model.logits([span_texts[j] for j in ids])
        out = np.zeros((int(rows.sum()), len(LABELS)))
        np.maximum.at(out, local, h.probabilities(windows.emb[sel], lex))
        return out

    y = target_matrix(examples)
    ship = np.array([e.source in {s.name for s in SOURCES if s.ship} for e in examples])
    val = np.array([is_validation(e.text) for e in examples]) & ship
    prob = probs_for(head, np.ones(len(examples), dtype=bool))
    raw = np.zeros_like(prob)
    np.maximum.at(
        raw,
        windows.text_index,
        1 / (1 + np.exp(-head.logits(windows.emb))),
    )
    external = ~ship
    contrast = load_jsonl_texts(_HERE / "contrast.jsonl")
    harmful = load_jsonl_texts(_HERE / "harmful.jsonl")
    p_contrast = _texts_probs(head, contrast, enc, tok, cache, "contrast")
    p_harmful = _texts_probs(head, harmful, enc, tok, cache, "harmful")
    texts = [e.text for e in examples]
    base = _baseline(texts)
    base_c = _baseline(contrast)

    from shared.training.fit import auprc

    metrics: dict[str, object] = {
        "encoder": f"minilm-l6-{enc.variant}#{enc.sha256[:8]}",
        "rows": {
            "train": int((ship & ~val).sum()),
            "validation": int(val.sum()),
            "external": int(external.sum()),
        },
        **scored_sections(
            examples,
            prob,
            thresholds,
            validation=val,
            external=external,
            contrast=p_contrast,
            harmful=p_harmful,
            raw=raw,
        ),
        "baseline_alt_profanity_check": {
            "validation_unsafe_auprc": auprc(base[val], y[val, -1]),
            "external_unsafe_auprc": auprc(base[external], y[external, -1]),
            "contrast_flagged_at_0.5": float((base_c >= 0.5).mean()),
            "validation_harassment_auprc": auprc(base[val], y[val, LABELS.index("harassment")]),
        },
    }
    if run_loso:
        metrics["leave_one_source_out"] = loso(
            examples, first, probs_for, thresholds, counts=counts, cache_dir=fits
        )
    version = save_head(
        head,
        out_dir,
        recipe={
            "head": f"MLP {HIDDEN} ReLU, {EPOCHS} epochs, Adam, masked BCE",
            "max_benign_fpr": MAX_BENIGN_FPR,
            "split": "sha1(text) % 5 == 0 -> validation",
            "features": "first-window embedding (training); max over windows (scoring)",
            "lexical": (
                f"tf-idf over {LEXICAL_SIZES} n-grams (word = token 1-2-grams, char = char_wb "
                "3-5-grams), logistic per label, stacked by a two-input Platt scaling on "
                "validation"
                if counts is not None
                else "none"
            ),
        },
    )
    metrics["head_version"] = version
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics

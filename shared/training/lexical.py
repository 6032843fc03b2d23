"""Training side of the lexical channel: n-gram counts, vocabulary, idf, linear model per label.

The analyser is the runtime's (:func:`shared.inference.lexical.analyze`); counts are built once
for every text of the pool with scikit-learn's ``CountVectorizer`` (the ``train`` extra), and
each fit selects its own vocabulary from the rows it trains on: per block, the ``size`` n-grams
with the highest total count among n-grams in at least ``MIN_DF`` training texts (ties broken
alphabetically), with smooth idf ``log((1 + n) / (1 + df)) + 1`` over those rows. So a
leave-one-source-out fold never sees the held-out source's vocabulary or idf.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shared.inference.lexical import BLOCKS, LexicalModel, analyze
from shared.training.fit import fit_logistic

__all__ = [
    "LEXICAL_C",
    "LEXICAL_SIZES",
    "MIN_DF",
    "PoolCounts",
    "fit_lexical",
    "pool_counts",
    "save_lexical",
]

#: Vocabulary size per block. The char block (char_wb 3-5-grams, 30,000) was measured and left
#: out of the shipped recipe: +0.01 LOSO / external AUPRC over words alone, but more contrast
#: prompts flagged by some label and 3x the runtime cost (docs/MODEL_CARD.md).
LEXICAL_SIZES = {"word": 20000, "char": 0}
#: Inverse L2 strength of each label's logistic regression on the tf-idf features.
LEXICAL_C = 4.0
MIN_DF = 2

F = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PoolCounts:
    """Per block: the term list and the [texts, terms] count matrix (scipy CSR)."""

    terms: dict[str, NDArray[Any]]
    counts: dict[str, Any]

    def subset(self, rows: NDArray[np.bool_]) -> PoolCounts:
        """The counts of ``rows`` only (same terms)."""
        return PoolCounts(self.terms, {b: self.counts[b][rows] for b in BLOCKS})


def pool_counts(texts: Sequence[str], cache_dir: Path | None = None) -> PoolCounts:
    """Count every n-gram of every text, per block (cached on disk by the texts' digest)."""
    import scipy.sparse as sp  # type: ignore[import-untyped]
    from sklearn.feature_extraction.text import CountVectorizer  # type: ignore[import-untyped]

    digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:12]
    where = None if cache_dir is None else cache_dir / f"counts-{digest}"
    terms: dict[str, NDArray[Any]] = {}
    counts: dict[str, Any] = {}
    for block in BLOCKS:
        if where is not None and (where / f"{block}.npz").is_file():
            counts[block] = sp.load_npz(where / f"{block}.npz").tocsr()
            terms[block] = np.array(
                json.loads((where / f"{block}.json").read_text(encoding="utf-8"))
            )
            continue
        cv = CountVectorizer(analyzer=partial(analyze, block=block), dtype=np.float64)
        counts[block] = cv.fit_transform(list(texts)).tocsr()
        terms[block] = cv.get_feature_names_out()
        if where is not None:
            where.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=where, suffix=".npz")
            os.close(fd)
            sp.save_npz(tmp, counts[block])
            os.replace(tmp, where / f"{block}.npz")
            (where / f"{block}.json").write_text(
                json.dumps([str(t) for t in terms[block]]), encoding="utf-8"
            )
    return PoolCounts(terms, counts)


def _select(counts: Any, rows: NDArray[np.bool_], size: int) -> tuple[NDArray[np.int64], F]:
    """Columns of the vocabulary chosen on ``rows`` (sorted) and their smooth idf."""
    sub = counts[rows]
    tf = np.asarray(sub.sum(axis=0)).ravel()
    df = np.asarray((sub > 0).sum(axis=0)).ravel()
    cand = np.flatnonzero(df >= MIN_DF)
    # highest total count first; ties by column index (= alphabetical term order)
    order = cand[np.lexsort((cand, -tf[cand]))][:size]
    cols = np.sort(order)
    n = int(rows.sum())
    idf = np.log((1.0 + n) / (1.0 + df[cols])) + 1.0
    return cols.astype(np.int64), idf


def tfidf(counts: Any, cols: NDArray[np.int64], idf: F) -> Any:
    """Sublinear tf times idf over the chosen columns, rows L2-normalised (scipy CSR)."""
    import scipy.sparse as sp

    x = counts[:, cols].tocsr().astype(np.float64)
    x.data = 1.0 + np.log(x.data)
    x = x @ sp.diags(idf)
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norm[norm == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norm) @ x)


@dataclass(frozen=True, slots=True)
class FittedLexical:
    """A fitted lexical channel: the runtime model plus how to featurise pool rows."""

    model: LexicalModel
    columns: dict[str, NDArray[np.int64]]  # per block, the pool-count columns in the vocabulary
    idf: dict[str, F]

    def pool_features(self, pc: PoolCounts, rows: NDArray[np.bool_] | None = None) -> Any:
        """tf-idf features (scipy CSR) of the pool's texts, or of ``rows`` of them."""
        import scipy.sparse as sp

        def sel(m: Any) -> Any:
            return m if rows is None else m[rows]

        return sp.hstack(
            [tfidf(sel(pc.counts[b]), self.columns[b], self.idf[b]) for b in self.columns],
            format="csr",
        )

    def pool_logits(self, pc: PoolCounts, rows: NDArray[np.bool_] | None = None) -> F:
        """The linear model's logits for the pool's texts (or ``rows``), [n, labels]."""
        x = self.pool_features(pc, rows)
        coef = self.model.coef.astype(np.float64)
        return np.asarray(x @ coef) + self.model.intercept.astype(np.float64)


def _fit_key(pc: PoolCounts, train: NDArray[np.bool_], y: F, w: F, extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for b in BLOCKS:
        m = pc.counts[b][train]
        for a in (m.data, m.indices, m.indptr):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(
            "\x00".join(str(t) for t in pc.terms[b][:: max(1, len(pc.terms[b]) // 997)]).encode()
        )
    for a in (y, w):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def fit_lexical(
    pc: PoolCounts,
    train: NDArray[np.bool_],
    y: F,
    w: F,
    labels: Sequence[str],
    *,
    sizes: dict[str, int] | None = None,
    c: float = LEXICAL_C,
    cache_dir: Path | None = None,
) -> FittedLexical:
    """Vocabulary and idf from ``train`` rows, then one logistic regression per label.

    ``y`` and ``w`` are aligned with the ``train`` rows (targets with NaN = unknown, weights).
    ``cache_dir`` memoises the (deterministic) fit by the digest of its inputs.
    """
    import scipy.sparse as sp

    sizes = sizes or LEXICAL_SIZES
    key = _fit_key(pc, train, y, w, repr((sorted(sizes.items()), c, MIN_DF, tuple(labels))))
    where = None if cache_dir is None else cache_dir / f"lexical-{key}.npz"
    cols, idfs = {}, {}
    if where is not None and where.is_file():
        with np.load(where) as z:
            coef, intercept = z["coef"], z["intercept"]
            for b in BLOCKS:
                cols[b], idfs[b] = z[f"cols_{b}"], z[f"idf_{b}"]
    else:
        mats = []
        for b in BLOCKS:
            cols[b], idfs[b] = _select(pc.counts[b], train, sizes[b])
            mats.append(tfidf(pc.counts[b][train], cols[b], idfs[b]))
        x = sp.hstack(mats, format="csr")
        coef = np.zeros((x.shape[1], len(labels)))
        intercept = np.zeros(len(labels))
        for j in range(len(labels)):
            coef[:, j], intercept[j] = fit_logistic(x, y[:, j], w, c=c)
        if where is not None:
            where.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=where.parent, suffix=".npz")
            os.close(fd)
            extra = {f"cols_{b}": cols[b] for b in BLOCKS} | {f"idf_{b}": idfs[b] for b in BLOCKS}
            np.savez(tmp, coef=coef, intercept=intercept, **extra)
            os.replace(tmp, where)
    used = [b for b in BLOCKS if len(cols[b])]  # a block of size 0 is left out entirely
    model = LexicalModel(
        [(b, [str(t) for t in pc.terms[b][cols[b]]], idfs[b]) for b in used],
        coef,
        intercept,
        labels,
    )
    return FittedLexical(model, {b: cols[b] for b in used}, {b: idfs[b] for b in used})


def save_lexical(model: LexicalModel, out_dir: Path, *, recipe: dict[str, object]) -> str:
    """Write lexical.json (vocabularies) and lexical.npz (idf, coef, intercept); their digest."""
    arrays: dict[str, Any] = {
        "coef": model.coef.astype(np.float32),
        "intercept": model.intercept.astype(np.float32),
    }
    vocab: dict[str, list[str]] = {}
    for blk in model.blocks:
        arrays[f"idf_{blk.name}"] = blk.idf.astype(np.float64)
        vocab[blk.name] = sorted(blk.vocab, key=blk.vocab.__getitem__)
    meta = {
        "labels": list(model.labels),
        "blocks": [blk.name for blk in model.blocks],
        "recipe": recipe,
        "vocabulary": vocab,
    }
    text = json.dumps(meta, ensure_ascii=False, separators=(",", ":")) + "\n"
    (out_dir / "lexical.json").write_text(text, encoding="utf-8")
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **arrays)
    (out_dir / "lexical.npz").write_bytes(buf.getvalue())
    return hashlib.sha256(text.encode("utf-8") + buf.getvalue()).hexdigest()[:8]

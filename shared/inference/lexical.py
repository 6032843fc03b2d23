"""The lexical channel: word and character n-gram tf-idf features into a linear model per label.

Pure Python + numpy (no scikit-learn at run time). The vocabulary, idf and coefficients are
derived artefacts fitted by ``clearpath model train`` on permissive training rows only and ship
in ``shared/model_assets`` as ``lexical.json`` (vocabulary per block) + ``lexical.npz`` (idf,
coefficients, intercepts). Its per-label logits are stacked with the encoder head's logits
(see :mod:`shared.inference.post`).

Features, per text (deterministic; the training featuriser counts with the same analyser):

* the text is lower-cased; tokens are runs of word characters (``\\w+``) or single
  non-space, non-word characters (punctuation, emoji);
* block ``word``: token unigrams ``w:<tok>`` and bigrams ``b:<tok> <tok>``;
* block ``char``: character n-grams (``CHAR_MIN``..``CHAR_MAX``) of each word-character
  token padded with one space on each side (scikit-learn's ``char_wb``);
* the shipped recipe uses the ``word`` block only (``lexical.json`` lists the blocks); the
  ``char`` block is supported and was measured (docs/MODEL_CARD.md);
* per block: sublinear tf (``1 + log(count)``) times idf over the block's fixed vocabulary,
  then L2 normalisation of the block (as a scikit-learn ``TfidfVectorizer`` with
  ``sublinear_tf=True`` per block in a ``FeatureUnion``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shared.errors import ConfigurationError

__all__ = ["BLOCKS", "CHAR_MAX", "CHAR_MIN", "LexicalModel", "analyze", "load_lexical"]

BLOCKS = ("word", "char")
CHAR_MIN = 3
CHAR_MAX = 5
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORDCHARS = re.compile(r"\w+")

F32 = NDArray[np.float32]


def _char_grams(word: str) -> list[str]:
    p = f" {word} "
    return [p[i : i + n] for n in range(CHAR_MIN, CHAR_MAX + 1) for i in range(len(p) - n + 1)]


def analyze(text: str, block: str) -> list[str]:
    """The n-gram features of ``text`` for one block, with repetitions."""
    low = text.lower()
    if block == "word":
        toks = _TOKEN.findall(low)
        return [f"w:{t}" for t in toks] + [f"b:{a} {b}" for a, b in itertools.pairwise(toks)]
    if block == "char":
        return [g for w in _WORDCHARS.findall(low) for g in _char_grams(w)]
    raise ValueError(f"unknown lexical block {block!r}")


@dataclass(frozen=True, slots=True)
class _Block:
    name: str
    vocab: dict[str, int]  # n-gram -> column within the block
    idf: NDArray[np.float64]
    offset: int  # first column of the block in the concatenated feature vector


#: Words whose in-vocabulary character n-gram columns are memoised (then the memo restarts).
_CHAR_MEMO_MAX = 200_000


class LexicalModel:
    """Vocabulary + idf per block and a linear layer to one logit per label."""

    def __init__(
        self,
        blocks: Sequence[tuple[str, Sequence[str], NDArray[np.float64]]],
        coef: NDArray[np.floating],
        intercept: NDArray[np.floating],
        labels: Sequence[str],
    ) -> None:
        built: list[_Block] = []
        offset = 0
        for name, terms, idf in blocks:
            if name not in BLOCKS or len(terms) != len(idf):
                raise ConfigurationError(
                    f"lexical block {name}: {len(terms)} terms, {len(idf)} idf"
                )
            vocab = {t: i for i, t in enumerate(terms)}
            built.append(_Block(name, vocab, np.asarray(idf, dtype=np.float64), offset))
            offset += len(terms)
        if coef.shape != (offset, len(labels)):
            raise ConfigurationError(f"lexical coefficients {coef.shape}, expected ({offset}, k)")
        self.blocks = tuple(built)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.labels = tuple(labels)
        self.n_features = offset
        self._idf = np.concatenate([blk.idf for blk in built]) if built else np.zeros(0)
        self._ends = np.array([blk.offset + len(blk.vocab) for blk in built], dtype=np.int64)
        self._char_memo: dict[str, NDArray[np.int64]] = {}

    def _char_columns(self, vocab: dict[str, int], word: str) -> NDArray[np.int64]:
        cols = self._char_memo.get(word)
        if cols is None:
            found = [j for g in _char_grams(word) if (j := vocab.get(g)) is not None]
            cols = np.asarray(found, dtype=np.int64)
            if len(self._char_memo) >= _CHAR_MEMO_MAX:
                self._char_memo = {}
            self._char_memo[word] = cols
        return cols

    def features(
        self, texts: Sequence[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Sparse tf-idf features as (row, column, value) triplets, sorted by row then column."""
        nf = max(self.n_features, 1)
        parts: list[NDArray[np.int64]] = []  # global columns, one array per (text, piece)
        part_rows: list[int] = []
        for r, text in enumerate(texts):
            low = text.lower()
            for blk in self.blocks:
                if blk.name == "word":
                    toks = _TOKEN.findall(low)
                    get = blk.vocab.get
                    found = [j for t in toks if (j := get(f"w:{t}")) is not None]
                    found += [
                        j
                        for a, b in itertools.pairwise(toks)
                        if (j := get(f"b:{a} {b}")) is not None
                    ]
                    parts.append(np.asarray(found, dtype=np.int64) + blk.offset)
                    part_rows.append(r)
                elif blk.vocab:
                    for w in _WORDCHARS.findall(low):
                        parts.append(self._char_columns(blk.vocab, w) + blk.offset)
                        part_rows.append(r)
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        lengths = np.fromiter((len(x) for x in parts), dtype=np.int64, count=len(parts))
        keys = np.repeat(np.asarray(part_rows, dtype=np.int64), lengths) * nf + np.concatenate(
            parts
        )
        uniq, counts = np.unique(keys, return_counts=True)
        row, col = uniq // nf, uniq % nf
        val = (1.0 + np.log(counts)) * self._idf[col]
        group = row * len(self.blocks) + np.searchsorted(self._ends, col, side="right")
        norm = np.sqrt(np.bincount(group, weights=val * val))
        return row, col, val / norm[group]

    def logits(self, texts: Sequence[str]) -> F32:
        """Per text and label, the linear model's logit, [len(texts), len(labels)]."""
        rows, cols, vals = self.features(texts)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if len(rows):
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # rows are sorted
            contrib = self.coef[cols].astype(np.float64) * vals[:, None]
            out[rows[starts]] = np.add.reduceat(contrib, starts, axis=0)
        return (out + self.intercept).astype(np.float32)


def load_lexical(directory: Path, labels: Sequence[str]) -> LexicalModel:
    """Read ``lexical.json`` (vocabularies) and ``lexical.npz`` (idf, coef, intercept)."""
    meta_path, arrays_path = directory / "lexical.json", directory / "lexical.npz"
    if not (meta_path.is_file() and arrays_path.is_file()):
        raise ConfigurationError(f"lexical channel files missing in {directory}")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if tuple(meta["labels"]) != tuple(labels):
        raise ConfigurationError("lexical channel labels differ from the head's")
    with np.load(arrays_path) as z:
        blocks = [
            (name, [str(t) for t in meta["vocabulary"][name]], z[f"idf_{name}"].astype(np.float64))
            for name in meta["blocks"]
        ]
        return LexicalModel(blocks, z["coef"], z["intercept"], labels)

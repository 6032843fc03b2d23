"""Embed the training pool once and cache the embeddings on disk (outside the repository).

Each source is cached as ``<cache>/<variant>-<sha8>/<source>-<texts sha12>.npz`` holding the
embedding of every window (at most ``MAX_WINDOWS`` per text), the text index of each window
and its position in the text; a changed text list or encoder file gives a new cache entry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shared.inference.core import Encoder
from shared.inference.pre import TextTokenizer, Window, pack_batches

__all__ = ["MAX_WINDOWS", "PoolEmbeddings", "cap_windows", "default_embedding_cache", "embed_texts"]

MAX_WINDOWS = 8
_log = logging.getLogger(__name__)


def default_embedding_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clearpath" / "embeddings"


@dataclass(frozen=True, slots=True)
class PoolEmbeddings:
    """Window embeddings of a list of texts."""

    emb: NDArray[np.float32]  # [windows, dim]
    text_index: NDArray[np.int64]  # [windows]
    position: NDArray[np.int64]  # [windows], 0 = first window of its text

    def first(self, n_texts: int) -> NDArray[np.float32]:
        """The first-window embedding of each text, [n_texts, dim]."""
        out = np.zeros((n_texts, self.emb.shape[1]), dtype=np.float32)
        sel = self.position == 0
        out[self.text_index[sel]] = self.emb[sel]
        return out


def cap_windows(windows: Sequence[Window]) -> tuple[list[Window], list[int]]:
    """At most ``MAX_WINDOWS`` windows per text, and each kept window's position in its text."""
    kept: list[Window] = []
    pos: list[int] = []
    last, count = -1, 0
    for w in windows:
        count = count + 1 if w.text_index == last else 0
        last = w.text_index
        if count < MAX_WINDOWS:
            kept.append(w)
            pos.append(count)
    return kept, pos


def embed_texts(
    texts: Sequence[str], *, encoder: Encoder, tokenizer: TextTokenizer, cache_dir: Path, name: str
) -> PoolEmbeddings:
    """Window embeddings of ``texts``, from the cache when the same texts were embedded before."""
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:12]
    where = cache_dir / f"{encoder.variant}-{encoder.sha256[:8]}" / f"{name}-{digest}.npz"
    if where.is_file():
        with np.load(where) as z:
            return PoolEmbeddings(z["emb"], z["text_index"], z["position"])
    windows, pos = cap_windows(tokenizer.windows(texts))
    batches = pack_batches(
        [Window(j, w.ids) for j, w in enumerate(windows)], max_batch=64, pad_id=tokenizer.pad_id
    )
    emb, order = encoder.embed(batches, len(windows))
    full = np.zeros_like(emb)
    full[order] = emb  # back to window order
    result = PoolEmbeddings(
        full,
        np.array([w.text_index for w in windows], dtype=np.int64),
        np.array(pos, dtype=np.int64),
    )
    where.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=where.parent, suffix=".npz")
    os.close(fd)
    np.savez(tmp, emb=result.emb, text_index=result.text_index, position=result.position)
    os.replace(tmp, where)
    _log.info("embedded %s: %d texts, %d windows", name, len(texts), len(windows))
    return result

"""Pre-processing: tokenise, split long texts into windows, and pack windows into padded batches.

The shipped ``tokenizer.json`` pads every text to 128 tokens; here padding and truncation are
off, each text is tokenised whole, and a text longer than one window (``max_tokens`` including
[CLS] and [SEP]) is split into overlapping windows that are each scored; the text's score is
the maximum over its windows (see :mod:`shared.inference.post`). Windows are sorted by length
and packed into groups padded to the longest member, which keeps padding small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tokenizers import Tokenizer

__all__ = ["Batch", "TextTokenizer", "Window", "balanced_rows", "pack_batches"]


@dataclass(frozen=True, slots=True)
class Window:
    """One window of one text: the index of the text and its token ids (with specials).

    ``span`` is the window's character range in its text when the text has several windows,
    ``None`` when the window is the whole text.
    """

    text_index: int
    ids: tuple[int, ...]
    span: tuple[int, int] | None = None

    def text(self, texts: Sequence[str]) -> str:
        """The window's text: the whole text, or its character span."""
        full = texts[self.text_index]
        return full if self.span is None else full[self.span[0] : self.span[1]]


@dataclass(frozen=True, slots=True)
class Batch:
    """Padded model inputs for a group of windows and which text each row belongs to."""

    input_ids: NDArray[np.int64]
    attention_mask: NDArray[np.int64]
    text_index: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.text_index)

    def split(self, rows: int) -> list[Batch]:
        """This batch as consecutive pieces of at most ``rows`` rows (at least one; same width)."""
        step = max(1, rows)
        return [
            Batch(self.input_ids[a : a + step], self.attention_mask[a : a + step],
                  self.text_index[a : a + step])
            for a in range(0, len(self), step)
        ]  # fmt: skip


class TextTokenizer:
    """The encoder's WordPiece tokenizer with no padding, no truncation and explicit windows."""

    def __init__(
        self, tokenizer_file: Path, *, max_tokens: int, overlap: int | None = None
    ) -> None:
        if max_tokens < 8:
            raise ValueError("max_tokens must be at least 8")
        tok = Tokenizer.from_file(str(tokenizer_file))
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self.max_tokens = max_tokens
        body = max_tokens - 2
        self._step = body - (overlap if overlap is not None else min(32, body // 4))
        if self._step <= 0:
            raise ValueError("overlap must be smaller than the window body")
        self._cls = self._token_id("[CLS]")
        self._sep = self._token_id("[SEP]")
        self.pad_id = self._token_id("[PAD]")

    def _token_id(self, token: str) -> int:
        tid = self._tok.token_to_id(token)
        if tid is None:
            raise ValueError(f"tokenizer has no {token} token")
        return int(tid)

    def windows(self, texts: Sequence[str]) -> list[Window]:
        """All windows of all texts, in text order; an empty text still gets one window."""
        out: list[Window] = []
        body = self.max_tokens - 2
        for i, enc in enumerate(self._tok.encode_batch(list(texts), add_special_tokens=False)):
            ids = enc.ids
            if len(ids) <= body:
                out.append(Window(i, (self._cls, *ids, self._sep)))
                continue
            offsets = enc.offsets
            for s in range(0, len(ids) - body + self._step, self._step):
                chunk = ids[s : s + body]
                span = (offsets[s][0], offsets[s + len(chunk) - 1][1])
                out.append(Window(i, (self._cls, *chunk, self._sep), span))
                if s + body >= len(ids):
                    break
        return out


def pack_batches(
    windows: Sequence[Window],
    *,
    max_batch: int,
    pad_id: int = 0,
    max_tokens: int | None = None,
    multiple: int = 1,
) -> list[Batch]:
    """Group windows by length (longest first) into batches padded to their longest member.

    A batch holds at most ``max_batch`` windows and, when ``max_tokens`` is set, at most that
    many padded tokens (rows x width; a single longer window still gets a batch of its own):
    on a CPU the encoder is fastest per token when a run's activations stay in cache.

    The batches are as even as the caps allow (see :func:`balanced_rows`), and their number is
    rounded up to a multiple of ``multiple`` while there are rows to share: an encoder that
    runs ``multiple`` batches at once, one thread each, then finishes them together instead
    of waiting on one large batch beside a small one.
    """
    order = sorted(range(len(windows)), key=lambda j: len(windows[j].ids), reverse=True)
    lengths = [len(windows[j].ids) for j in order]
    batches: list[Batch] = []
    start = 0
    for rows in balanced_rows(
        lengths, max_batch=max_batch, max_tokens=max_tokens, multiple=multiple
    ):
        group = [windows[j] for j in order[start : start + rows]]
        start += rows
        width = len(group[0].ids)
        ids = np.full((len(group), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(group), width), dtype=np.int64)
        for row, win in enumerate(group):
            ids[row, : len(win.ids)] = win.ids
            mask[row, : len(win.ids)] = 1
        batches.append(Batch(ids, mask, np.array([w.text_index for w in group], dtype=np.int64)))
    return batches


def balanced_rows(
    lengths: Sequence[int], *, max_batch: int, max_tokens: int | None = None, multiple: int = 1
) -> list[int]:
    """Row counts of consecutive groups of ``lengths`` (sorted longest first).

    First the fewest groups the caps allow (``max_batch`` rows, ``max_tokens`` padded tokens),
    rounded up to a multiple of ``multiple`` (at most one group per row); then the cuts that
    make the largest group's padded size (rows x its first length) as small as it can be for
    that many groups, so no group is left to run alone long after the others.
    """
    n = len(lengths)
    if n == 0:
        return []
    if max_batch < 1 or multiple < 1:
        raise ValueError("max_batch and multiple must be at least 1")
    hi = max_tokens if max_tokens is not None else lengths[0] * max_batch

    def fill(cap: int) -> list[int]:
        sizes: list[int] = []
        i = 0
        while i < n:
            rows = max(1, min(max_batch, cap // lengths[i], n - i))
            sizes.append(rows)
            i += rows
        return sizes

    fewest = len(fill(hi))
    groups = min(n, -(-fewest // multiple) * multiple)
    lo = 1  # the smallest cap that still fits in ``groups`` groups: fill() is monotone in it
    while lo < hi:
        mid = (lo + hi) // 2
        if len(fill(mid)) <= groups:
            hi = mid
        else:
            lo = mid + 1
    sizes = fill(lo)
    starts = [sum(sizes[:g]) for g in range(len(sizes))]
    while len(sizes) < groups:  # a cap fitted fewer groups: halve the largest until enough
        g = max(
            (k for k in range(len(sizes)) if sizes[k] > 1),
            key=lambda k: sizes[k] * lengths[starts[k]],
        )
        first = (sizes[g] + 1) // 2
        sizes[g : g + 1] = [first, sizes[g] - first]
        starts[g : g + 1] = [starts[g], starts[g] + first]
    return sizes

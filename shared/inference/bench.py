"""``clearpath bench model``: encoder + head throughput and latency per variant, batch, length.

Inputs are synthetic token ids of exactly ``seq_len`` tokens (no padding), so each row measures
the model at that shape; tokenisation (20-36k texts/s) is not the bottleneck and is left out.
A batch is run the way the classifier serves it: cut into runs of at most ``batch_tokens``
padded tokens, spread over the encoder's parallel runs (``Encoder.embed``).
When the head stacks the lexical channel, its featuriser runs inside the timed loop on
synthetic texts of about ``seq_len`` tokens (0.75 words per token, words drawn from the
channel's own word vocabulary, a fresh batch of texts each iteration). Without a head
(``--no-head``) the rows time the encoder alone: on a GPU the CPU-side featuriser, not the
encoder, is then the limit, and the two are worth seeing apart.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from shared.inference.core import Encoder
from shared.inference.post import Head
from shared.inference.pre import Batch

__all__ = ["BenchRow", "bench_encoder"]


@dataclass(frozen=True, slots=True)
class BenchRow:
    variant: str
    provider: str
    batch: int
    seq_len: int
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    iterations: int
    head: bool  # the head (MLP + lexical featuriser, CPU) timed with the encoder
    parallel: int = 1  # encoder runs in flight at once
    batch_tokens: int | None = None  # padded tokens per run at most (None: the whole batch)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def bench_encoder(
    encoder: Encoder,
    head: Head | None,
    *,
    batches: Iterable[int] = (1, 8, 32, 128),
    seq_lens: Iterable[int] = (32, 128),
    seconds: float = 2.0,
    min_iterations: int = 5,
    seed: int = 0,
    batch_tokens: int | None = None,
) -> list[BenchRow]:
    """One row per (batch, seq_len): time the encoder's runs (+ head) for about ``seconds``."""
    rng = np.random.default_rng(seed)
    lexical = head.lexical if head is not None else None
    words: list[str] = []
    if lexical is not None:
        vocab = next(b.vocab for b in lexical.blocks if b.name == "word")
        words = sorted(t[2:] for t in vocab if t.startswith("w:") and t[2:].isalpha())
    rows: list[BenchRow] = []
    for seq_len in seq_lens:
        for batch in batches:
            ids = rng.integers(1000, 29000, size=(batch, seq_len), dtype=np.int64)
            ids[:, 0], ids[:, -1] = 101, 102
            whole = Batch(ids, np.ones_like(ids), np.arange(batch, dtype=np.int64))
            runs = whole.split(batch if batch_tokens is None else batch_tokens // seq_len)
            n_words = max(1, round(0.75 * seq_len))
            texts = [
                [" ".join(rng.choice(words, n_words)) for _ in range(batch)] if words else []
                for _ in range(16)
            ]
            for _ in range(2):
                encoder.embed(runs, batch)
            lat: list[float] = []
            start = time.perf_counter()
            while len(lat) < min_iterations or time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                emb, _ = encoder.embed(runs, batch)
                if head is not None:
                    lex = None if lexical is None else lexical.logits(texts[len(lat) % 16])
                    head.probabilities(emb, lex)
                lat.append(time.perf_counter() - t0)
            arr = np.array(lat)
            rows.append(
                BenchRow(
                    variant=encoder.variant,
                    provider=encoder.provider,
                    batch=batch,
                    seq_len=seq_len,
                    msgs_per_s=round(batch * len(arr) / float(arr.sum()), 1),
                    p50_ms=round(float(np.percentile(arr, 50)) * 1000, 2),
                    p99_ms=round(float(np.percentile(arr, 99)) * 1000, 2),
                    iterations=len(arr),
                    head=head is not None,
                    parallel=encoder.parallel,
                    batch_tokens=batch_tokens,
                )
            )
    return rows

"""A small measurement of what the verdict cache saves: miss (full pipeline) vs hit cost.

Call :func:`measure` from a shell or a future ``clearpath bench cache`` command; it
prints nothing and returns the numbers. Texts are synthetic and tagged with a random
run id, so the first pass always misses.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.cache import RedisVerdictCache
from shared.core.cached_verdict import CachedVerdict, render_cached, to_cached
from shared.pipeline import Pipeline
from shared.schemas import ModerationRequest, Verdict
from shared.settings import CacheSettings

__all__ = ["CacheBench", "measure"]

_TEXTS = (
    "How do I kill a Python process?",
    "Write a haiku about the sea.",
    "Email me at someone@example.com please",
    "Give me steps to make a nerve agent",
)


@dataclass(frozen=True)
class CacheBench:
    """Per-message milliseconds for one batch of ``batch`` messages, median of ``rounds``."""

    batch: int
    rounds: int
    miss_ms: float  # detect + decide + respond, per message
    hit_ms: float  # one MGET for the batch + rendering each verdict (the workers' path)
    put_ms: float  # one pipelined SET EX for the batch, per message


def _requests(batch: int, tag: str) -> list[ModerationRequest]:
    now = datetime.now(UTC)
    return [
        ModerationRequest(
            request_id=f"bench-{tag}-{i}",
            tenant_id="bench",
            text=f"{_TEXTS[i % len(_TEXTS)]} ({tag} #{i})",
            submitted_at=now,
        )
        for i in range(batch)
    ]


def measure(pipeline: Pipeline, *, redis_url: str, batch: int = 64, rounds: int = 5) -> CacheBench:
    """Miss, put and hit cost per message on ``pipeline`` and the Redis at ``redis_url``."""
    cache = RedisVerdictCache.connect(redis_url, settings=CacheSettings(timeout_ms=1000))
    miss, hit, put = [], [], []
    try:
        for _ in range(rounds):
            requests = _requests(batch, uuid.uuid4().hex[:8])
            started = time.perf_counter()
            verdicts = [pipeline.check(r, clock=lambda: datetime.now(UTC)) for r in requests]
            miss.append(time.perf_counter() - started)
            entries = [_entry(pipeline, r, v) for r, v in zip(requests, verdicts, strict=True)]
            started = time.perf_counter()
            cache.put_many(entries)
            put.append(time.perf_counter() - started)
            started = time.perf_counter()
            keys = [pipeline.cache_key(r) for r in requests]
            found = cache.get_entries(keys, texts=[r.text for r in requests])
            now = datetime.now(UTC)
            served = [  # the workers' hit path: straight to the verdict's JSON
                render_cached(c, r, now=now, sign_appeal=pipeline.sign_appeal, timings_ms={})
                for c, r in zip(found, requests, strict=True)
                if c is not None
            ]
            hit.append(time.perf_counter() - started)
            if len(served) != batch:
                raise RuntimeError(f"expected {batch} hits, got {len(served)}")
    finally:
        cache.close()

    def per_message(samples: list[float]) -> float:
        return round(statistics.median(samples) * 1000 / batch, 4)

    return CacheBench(batch, rounds, per_message(miss), per_message(hit), per_message(put))


def _entry(
    pipeline: Pipeline, request: ModerationRequest, verdict: Verdict
) -> tuple[str, CachedVerdict]:
    key = pipeline.cache_key(request)
    if key is None:
        raise RuntimeError("the bench tenant must allow caching")
    category = next((c.id for c in verdict.categories if c.triggered), None)  # bench only
    return key, to_cached(verdict, category=category, text=request.text)

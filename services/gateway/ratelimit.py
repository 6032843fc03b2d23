"""Per-API-key rate limits (``limits``, moving window), in Redis when there is one.

With Redis every gateway replica shares one count per key; without it (or while Redis is
down) each replica counts in memory — the limit then holds per replica, and a Redis outage
never takes the API down with it. A key's own ``rate_limit`` overrides the default.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import limits
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from shared.apikeys import ApiKey

__all__ = ["KeyRateLimiter", "RateDecision", "build_limiter"]

log = logging.getLogger("clearpath.gateway.ratelimit")
_NAMESPACE = "clearpath-gateway"


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: str
    remaining: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        """``Retry-After`` (seconds) and the limit's state, for a 429 answer."""
        return {
            "Retry-After": str(self.retry_after_s),
            "X-RateLimit-Limit": self.limit,
            "X-RateLimit-Remaining": str(self.remaining),
        }


@lru_cache(maxsize=256)
def _parse(text: str) -> limits.RateLimitItem:
    return limits.parse(text)


class KeyRateLimiter:
    """Counts each key's requests against its limit; falls back to memory if Redis fails."""

    def __init__(
        self,
        *,
        default: str,
        storage: Storage | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _parse(default)  # a bad default is a configuration error at start, not at a request
        self._default = default
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared = MovingWindowRateLimiter(storage) if storage is not None else None
        self._clock = clock
        self._warned = threading.Event()

    @property
    def backend(self) -> str:
        return "redis" if self._shared is not None else "memory"

    def hit(self, key: ApiKey) -> RateDecision:
        text = key.rate_limit or self._default
        try:
            item = _parse(text)
        except ValueError:
            log.error("key %s has an unreadable rate limit %r; using the default", key.key_id, text)
            text, item = self._default, _parse(self._default)
        identity = (_NAMESPACE, key.key_id)
        limiter = self._shared or self._memory
        try:
            allowed = limiter.hit(item, *identity)
            stats = limiter.get_window_stats(item, *identity)
        except StorageError as exc:
            if not self._warned.is_set():
                self._warned.set()
                log.warning("rate-limit storage failed (%s): counting in memory", exc)
            allowed = self._memory.hit(item, *identity)
            stats = self._memory.get_window_stats(item, *identity)
        retry = max(1, math.ceil(stats.reset_time - self._clock())) if not allowed else 0
        return RateDecision(allowed, text, max(0, stats.remaining), retry)


def build_limiter(*, default: str, redis_url: str | None) -> KeyRateLimiter:
    """A limiter over Redis at ``redis_url`` when it answers, else in memory."""
    storage: Storage | None = None
    if redis_url:
        candidate = RedisStorage(
            redis_url,
            key_prefix="clearpath:ratelimit",
            wrap_exceptions=True,
            socket_timeout=0.25,
            socket_connect_timeout=0.25,
        )
        if candidate.check():
            storage = candidate
        else:
            log.warning("Redis at %s does not answer: rate limits count in memory", redis_url)
    return KeyRateLimiter(default=default, storage=storage)

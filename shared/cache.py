"""The Redis verdict cache adapter: batched look-ups and writes behind a circuit breaker.

It uses the **synchronous** redis-py client, not ``redis.asyncio``: the workers' loop is
synchronous (one batch at a time inside a Kafka transaction), so an event loop would only
add a thread hop per batch. One ``MGET`` answers a whole batch; one non-transactional
pipeline of ``SET EX`` writes one. Every round trip is bounded by ``cache.timeout_ms`` and
never retried (a miss is cheaper than a wait).

The cache is never on the critical path: a failure is counted (``cache_errors``), a
look-up that could not be made is a ``bypass``, and :class:`~shared.circuit.CircuitBreaker`
stops calling a Redis that keeps failing until ``breaker_reset_s`` has passed. A ``None``
key means "do not look up" (the tenant opted out): a bypass, never read nor written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

import redis
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.circuit import CircuitBreaker
from shared.core.cached_verdict import CachedEntry, CachedVerdict
from shared.endpoints import redis_url
from shared.metrics import WorkerMetrics
from shared.settings import CacheSettings, Settings

__all__ = [
    "CacheObserver",
    "LookupResult",
    "NullVerdictCache",
    "RedisVerdictCache",
    "VerdictCache",
    "build_cache",
    "metrics_observer",
]

log = logging.getLogger("clearpath.cache")

LookupResult = Literal["hit", "miss", "bypass"]
CacheOperation = Literal["get", "put"]


class CacheObserver(Protocol):
    """Where the cache reports look-up results and failed operations (metrics, tests)."""

    def lookups(self, result: LookupResult, count: int) -> None: ...

    def error(self, operation: CacheOperation) -> None: ...


class _Silent:
    def lookups(self, result: LookupResult, count: int) -> None:
        pass

    def error(self, operation: CacheOperation) -> None:
        pass


class _MetricsObserver:
    def __init__(self, metrics: WorkerMetrics) -> None:
        self._metrics = metrics

    def lookups(self, result: LookupResult, count: int) -> None:
        if count:
            self._metrics.cache_lookups.labels(result).inc(count)

    def error(self, operation: CacheOperation) -> None:
        self._metrics.cache_errors.labels(operation).inc()


def metrics_observer(metrics: WorkerMetrics) -> CacheObserver:
    """Count look-ups in ``cache_lookups{result}`` and failures in ``cache_errors{operation}``."""
    return _MetricsObserver(metrics)


class VerdictCache(Protocol):
    """Batched verdict look-ups and writes; never raises for an unavailable backend."""

    def get_many(
        self, keys: Sequence[str | None], *, texts: Sequence[str] | None = None
    ) -> list[CachedVerdict | None]:
        """One result per key, in order: the cached verdict, or None (miss or bypass).

        With ``texts`` (the requests' exact texts), a stored verdict that may not serve its
        text (:meth:`CachedVerdict.serves`) is a miss.
        """
        ...

    def get_entries(
        self, keys: Sequence[str | None], *, texts: Sequence[str] | None = None
    ) -> list[CachedEntry | None]:
        """:meth:`get_many` for the workers' hot path: the stored documents, validated only if
        something asks for :attr:`CachedEntry.model` (see :mod:`shared.core.cached_verdict`)."""
        ...

    def put_many(self, items: Sequence[tuple[str, CachedVerdict]]) -> None: ...

    def close(self) -> None: ...


class NullVerdictCache:
    """The disabled cache: every look-up is a bypass, writes go nowhere."""

    def __init__(self, *, observer: CacheObserver | None = None) -> None:
        self._observer = observer or _Silent()

    def get_many(
        self, keys: Sequence[str | None], *, texts: Sequence[str] | None = None
    ) -> list[CachedVerdict | None]:
        self._observer.lookups("bypass", len(keys))
        return [None] * len(keys)

    def get_entries(
        self, keys: Sequence[str | None], *, texts: Sequence[str] | None = None
    ) -> list[CachedEntry | None]:
        self._observer.lookups("bypass", len(keys))
        return [None] * len(keys)

    def put_many(self, items: Sequence[tuple[str, CachedVerdict]]) -> None:
        pass

    def close(self) -> None:
        pass


class RedisVerdictCache:
    """Verdicts in Redis under their cache keys, ``ttl_s`` seconds each."""

    def __init__(
        self,
        *,
        client: redis.Redis,
        ttl_s: int,
        breaker: CircuitBreaker,
        observer: CacheObserver | None = None,
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self.breaker = breaker
        self._observer = observer or _Silent()

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        settings: CacheSettings,
        observer: CacheObserver | None = None,
        clock: Callable[[], float] | None = None,
    ) -> RedisVerdictCache:
        """A cache over the Redis at ``url`` (connects lazily: an absent Redis is not fatal)."""
        timeout_s = settings.timeout_ms / 1000
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # redis-py retries 10 times with backoff by default
            health_check_interval=0,
        )
        breaker = CircuitBreaker(
            failures=settings.breaker_failures,
            reset_s=settings.breaker_reset_s,
            clock=clock or time.monotonic,
        )
        return cls(client=client, ttl_s=settings.ttl_s, breaker=breaker, observer=observer)

    def get_many(
        self, keys: Sequence[str | None], *, texts: Sequence[str] | None = None
    ) -> list[CachedVerdict | None]:
        return [None if e is None else _validated(e) for e in self.get_entries(keys, texts=texts)]

    def get_entries(
        self, keys: Sequence[str | None], *, texts: Sequence[str] | None = None
    ) -> list[CachedEntry | None]:
        if texts is not None and len(texts) != len(keys):
            raise ValueError("texts must match keys one to one")
        results: list[CachedEntry | None] = [None] * len(keys)
        wanted = [(i, key) for i, key in enumerate(keys) if key is not None]
        self._observer.lookups("bypass", len(keys) - len(wanted))
        if not wanted:
            return results
        if not self.breaker.allow():
            self._observer.lookups("bypass", len(wanted))
            return results
        try:
            raw = self._client.mget([key for _, key in wanted])
        except (redis.RedisError, OSError) as exc:
            self._failed("get", exc)
            self._observer.lookups("bypass", len(wanted))
            return results
        self.breaker.record_success()
        hits = 0
        for (i, _), value in zip(wanted, raw, strict=True):
            found = self._decode(value)
            if found is not None and (texts is None or found.serves(texts[i])):
                results[i] = found
                hits += 1
        self._observer.lookups("hit", hits)
        self._observer.lookups("miss", len(wanted) - hits)
        return results

    def put_many(self, items: Sequence[tuple[str, CachedVerdict]]) -> None:
        if not items or not self.breaker.allow():
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(key, value.encode(), ex=self._ttl_s)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self._failed("put", exc)
            return
        self.breaker.record_success()

    def close(self) -> None:
        self._client.close()

    def _failed(self, operation: CacheOperation, exc: BaseException) -> None:
        self.breaker.record_failure()
        self._observer.error(operation)
        log.warning("verdict cache %s failed (%s); breaker %s", operation, exc, self.breaker.state)

    def _decode(self, value: object) -> CachedEntry | None:
        if not isinstance(value, bytes | str):
            return None
        # An unreadable entry is a miss; the next verdict overwrites it.
        return CachedEntry.parse(value)


def _validated(entry: CachedEntry) -> CachedVerdict | None:
    """The entry's model, or None (a miss) when its document does not validate."""
    try:
        return entry.model
    except ValidationError:
        return None


def build_cache(
    settings: Settings, *, observer: CacheObserver | None = None, url: str | None = None
) -> VerdictCache:
    """The cache ``settings`` ask for: Redis at ``url`` (else the configured or local-stack
    Redis), or the no-op cache when disabled or when no Redis is known."""
    if not settings.cache.enabled:
        return NullVerdictCache(observer=observer)
    url = url or redis_url(settings)
    if url is None:
        log.warning("no Redis configured or running: the verdict cache is off")
        return NullVerdictCache(observer=observer)
    return RedisVerdictCache.connect(url, settings=settings.cache, observer=observer)

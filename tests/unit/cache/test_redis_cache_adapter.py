"""The Redis adapter over a scriptable stand-in: counting, opt-out, failures, the breaker."""

from __future__ import annotations

from typing import Any, cast

import orjson
import redis

from shared.cache import NullVerdictCache, RedisVerdictCache, build_cache
from shared.circuit import CircuitBreaker
from shared.core.cached_verdict import CachedVerdict
from shared.settings import CacheSettings, RedisSettings, Settings
from tests.support.cache_fakes import FlakyRedis, RecordingObserver

VALUE = CachedVerdict(
    profile="public_assistant",
    action="allow",
    policy_version="default@4",
    model_version="lexical@1",
    source_digest="0" * 64,
)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _cache(client: FlakyRedis, clock: Clock | None = None) -> tuple[RedisVerdictCache, Any]:
    observer = RecordingObserver()
    cache = RedisVerdictCache(
        client=cast(redis.Redis, client),
        ttl_s=60,
        breaker=CircuitBreaker(failures=2, reset_s=5.0, clock=clock or Clock()),
        observer=observer,
    )
    return cache, observer


def test_one_mget_per_batch_counts_hits_misses_and_opt_out_bypasses() -> None:
    client = FlakyRedis()
    cache, seen = _cache(client)
    cache.put_many([("k1", VALUE)])
    assert client.ttls == {"k1": 60}
    calls = client.calls
    assert cache.get_many(["k1", "k2", None]) == [VALUE, None, None]
    assert client.calls == calls + 1
    assert seen.results == {"hit": 1, "miss": 1, "bypass": 1}


def test_only_opted_out_keys_never_touch_redis() -> None:
    client = FlakyRedis()
    cache, seen = _cache(client)
    assert cache.get_many([None, None]) == [None, None]
    assert client.calls == 0 and seen.results["bypass"] == 2


def test_an_unreadable_entry_is_a_miss() -> None:
    client = FlakyRedis()
    client.data["k1"] = b"{not json"
    cache, seen = _cache(client)
    assert cache.get_many(["k1"]) == [None]
    assert seen.results["miss"] == 1


def test_an_entry_that_parses_but_does_not_validate_is_no_verdict() -> None:
    client = FlakyRedis()
    doc = VALUE.model_dump(mode="json")
    doc["categories"] = [{"id": "hate", "score": 7.5, "threshold": 0.5, "triggered": True}]
    client.data["k1"] = orjson.dumps(doc)
    cache, _ = _cache(client)
    assert cache.get_many(["k1"]) == [None]  # the model path: never a half-read verdict
    (entry,) = cache.get_entries(["k1"])
    assert entry is not None and entry.doc == doc  # the hot path reads what it renders as is
    client.data["k2"] = VALUE.encode()
    assert cache.get_entries(["k2"])[0] is not None and cache.get_many(["k2"]) == [VALUE]


def test_failures_never_raise_and_open_the_breaker_until_the_reset_time() -> None:
    client, clock = FlakyRedis(), Clock()
    cache, seen = _cache(client, clock)
    cache.put_many([("k1", VALUE)])
    client.down = True
    assert cache.get_many(["k1"]) == [None]
    cache.put_many([("k2", VALUE)])
    assert seen.errors == {"get": 1, "put": 1}
    assert cache.breaker.state == "open"
    calls = client.calls
    assert cache.get_many(["k1", "k2"]) == [None, None]
    assert client.calls == calls, "an open breaker does not call Redis"
    assert seen.results["bypass"] == 3
    client.down = False
    clock.now += 5
    assert cache.get_many(["k1"]) == [VALUE]
    assert cache.breaker.allow(), "a successful trial closes the breaker"


def test_a_disabled_or_unconfigured_cache_is_the_null_cache() -> None:
    off = Settings(cache=CacheSettings(enabled=False), redis=RedisSettings(url="redis://x:1/0"))
    assert isinstance(build_cache(off), NullVerdictCache)
    seen = RecordingObserver()
    null = build_cache(off, observer=seen)
    assert null.get_many(["a", None]) == [None, None]
    null.put_many([("a", VALUE)])
    assert seen.results["bypass"] == 2


def test_a_configured_url_builds_a_lazy_redis_cache() -> None:
    settings = Settings(redis=RedisSettings(url="redis://127.0.0.1:1/0"))
    cache = build_cache(settings)
    try:
        assert isinstance(cache, RedisVerdictCache)
        assert cache.get_many(["k"]) == [None]  # refused connection: a bypass, no exception
    finally:
        cache.close()

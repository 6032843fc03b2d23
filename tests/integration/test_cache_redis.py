"""The verdict cache on a real Redis: hits, TTLs, versions in the key, and a Redis outage."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis

from shared.cache import RedisVerdictCache
from shared.core.cached_verdict import CachedVerdict
from shared.core.fingerprint import cache_key
from shared.settings import CacheSettings
from shared.stack import Endpoints
from shared.stack.process import LOOPBACK, free_port
from tests.support.cache_fakes import RecordingObserver
from tests.support.factories import make_request
from tests.support.redis_server import private_redis

pytestmark = pytest.mark.integration

VALUE = CachedVerdict(
    profile="public_assistant",
    action="allow",
    policy_version="default@4",
    model_version="lexical@1",
    source_digest="0" * 64,
)
FAST = CacheSettings(ttl_s=30, timeout_ms=100, breaker_failures=2, breaker_reset_s=0.5)


def _key(text: str, *, model: str = "lexical@1", policy: str = "default@4#x") -> str:
    request = make_request(text=text)
    return cache_key(request, policy_fingerprint=policy, model_version=model)


def test_hit_miss_ttl_and_versions_on_the_stack_redis(stack_endpoints: Endpoints) -> None:
    seen = RecordingObserver()
    cache = RedisVerdictCache.connect(stack_endpoints.redis_url, settings=FAST, observer=seen)
    text = f"integration {uuid.uuid4()}"
    key = _key(text)
    try:
        assert cache.get_many([key]) == [None]
        cache.put_many([(key, VALUE)])
        assert cache.get_many([key, None]) == [VALUE, None]
        assert seen.results == {"hit": 1, "miss": 1, "bypass": 1}
        assert seen.errors == {"get": 0, "put": 0}
        newer = [_key(text, model="lexical@2"), _key(text, policy="default@5#y")]
        assert cache.get_many(newer) == [None, None], "a version change is a miss"
    finally:
        cache.close()
    client = redis.Redis.from_url(stack_endpoints.redis_url)
    try:
        assert 0 < int(client.ttl(key)) <= FAST.ttl_s
        assert text.encode() not in (client.get(key) or b"")
        client.delete(key)
    finally:
        client.close()


def test_an_outage_costs_no_request_and_the_breaker_recovers(tmp_path: Path) -> None:
    port = free_port()
    seen = RecordingObserver()
    cache = RedisVerdictCache.connect(f"redis://{LOOPBACK}:{port}/0", settings=FAST, observer=seen)
    keys = [_key(f"outage {i}") for i in range(8)]
    try:
        with private_redis(port, tmp_path) as server:
            cache.put_many([(k, VALUE) for k in keys])
            assert cache.get_many(keys) == [VALUE] * 8
            server.terminate()
            server.wait(timeout=10)
            started = time.monotonic()
            for _ in range(20):  # a stream of batches while Redis is gone: none may raise
                assert cache.get_many(keys) == [None] * 8
                cache.put_many([(keys[0], VALUE)])
            assert time.monotonic() - started < 2, "an open breaker costs no round trips"
        assert seen.errors["get"] >= 1 and sum(seen.errors.values()) == FAST.breaker_failures
        assert seen.results["bypass"] == 20 * 8
        assert not cache.breaker.allow(), "the breaker is open"

        with private_redis(port, tmp_path):  # Redis is back (empty: no persistence)
            time.sleep(FAST.breaker_reset_s)
            assert cache.get_many(keys) == [None] * 8  # the trial: a miss, and closes it
            cache.put_many([(k, VALUE) for k in keys])
            assert cache.get_many(keys) == [VALUE] * 8
        assert seen.results["hit"] == 16
    finally:
        cache.close()

"""Per-key rate limits: counted per key, a key's own limit, memory when the store fails."""

from __future__ import annotations

from typing import Any

import pytest
from limits.errors import StorageError
from limits.storage import MemoryStorage

from services.gateway.ratelimit import KeyRateLimiter
from shared.apikeys import ApiKey
from tests.support.factories import NOW


def _key(key_id: str, rate_limit: str | None = None) -> ApiKey:
    return ApiKey(key_id, "t", "client", None, rate_limit, NOW, None)


def test_each_key_has_its_own_count_and_a_retry_after_once_over() -> None:
    limiter = KeyRateLimiter(default="2/minute")
    first, other = _key("aaaaaaaaaaaa"), _key("bbbbbbbbbbbb")
    assert [limiter.hit(first).allowed for _ in range(3)] == [True, True, False]
    denied = limiter.hit(first)
    assert not denied.allowed and 1 <= denied.retry_after_s <= 60
    assert denied.headers()["Retry-After"] == str(denied.retry_after_s)
    assert denied.headers()["X-RateLimit-Limit"] == "2/minute"
    assert limiter.hit(other).allowed  # another key is not affected
    assert limiter.backend == "memory"


def test_a_key_carries_its_own_limit() -> None:
    limiter = KeyRateLimiter(default="1/minute")
    generous = _key("cccccccccccc", "5/minute")
    assert all(limiter.hit(generous).allowed for _ in range(5))
    assert not limiter.hit(generous).allowed


class _BrokenStorage(MemoryStorage):
    """A shared store that is down."""

    def acquire_entry(self, *args: Any, **kwargs: Any) -> bool:
        raise StorageError(ConnectionError("redis down"))


def test_a_failing_shared_store_falls_back_to_counting_in_memory() -> None:
    limiter = KeyRateLimiter(default="2/minute", storage=_BrokenStorage())
    assert limiter.backend == "redis"
    key = _key("dddddddddddd")
    assert [limiter.hit(key).allowed for _ in range(3)] == [True, True, False]


def test_an_unreadable_default_is_a_start_up_error() -> None:
    with pytest.raises(ValueError):
        KeyRateLimiter(default="lots")

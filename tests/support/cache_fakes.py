"""An in-memory verdict cache and a scriptable Redis stand-in (component and unit tests)."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from shared.core.cached_verdict import CachedEntry, CachedVerdict

__all__ = ["FlakyRedis", "InMemoryVerdictCache", "RecordingObserver"]


class RecordingObserver:
    """A cache observer that tallies look-up results and failed operations."""

    def __init__(self) -> None:
        self.results: dict[str, int] = {"hit": 0, "miss": 0, "bypass": 0}
        self.errors: dict[str, int] = {"get": 0, "put": 0}

    def lookups(self, result: str, count: int) -> None:
        self.results[result] += count

    def error(self, operation: str) -> None:
        self.errors[operation] += 1


class InMemoryVerdictCache:
    """The :class:`~shared.cache.VerdictCache` protocol over a dict; records every call."""

    def __init__(self) -> None:
        self.store: dict[str, CachedVerdict] = {}
        self.gets: list[list[str | None]] = []
        self.puts: list[list[str]] = []

    def get_many(
        self, keys: Sequence[str | None], *, texts: Sequence[str] | None = None
    ) -> list[CachedVerdict | None]:
        self.gets.append(list(keys))
        found = [self.store.get(k) if k is not None else None for k in keys]
        if texts is not None:
            pairs = zip(found, texts, strict=True)
            found = [f if f is not None and f.serves(t) else None for f, t in pairs]
        return found

    def get_entries(
        self, keys: Sequence[str | None], *, texts: Sequence[str] | None = None
    ) -> list[CachedEntry | None]:
        # Through the stored bytes, as the Redis adapter reads them.
        found = self.get_many(keys, texts=texts)
        return [None if f is None else CachedEntry.parse(f.encode()) for f in found]

    def put_many(self, items: Sequence[tuple[str, CachedVerdict]]) -> None:
        self.puts.append([key for key, _ in items])
        self.store.update(items)

    def close(self) -> None:
        pass


class _Pipe:
    def __init__(self, owner: FlakyRedis) -> None:
        self.owner = owner
        self.ops: list[tuple[str, bytes, int | None]] = []

    def set(self, key: str, value: bytes, ex: int | None = None) -> None:
        self.ops.append((key, value, ex))

    def execute(self) -> list[bool]:
        self.owner.check()
        for key, value, ex in self.ops:
            self.owner.data[key] = value
            self.owner.ttls[key] = ex
        return [True] * len(self.ops)


class FlakyRedis:
    """Just enough of ``redis.Redis`` (mget, pipeline/set/execute) to fail on demand."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttls: dict[str, int | None] = {}
        self.down = False
        self.calls = 0

    def check(self) -> None:
        self.calls += 1
        if self.down:
            raise redis.ConnectionError("connection refused")

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        self.check()
        return [self.data.get(k) for k in keys]

    def pipeline(self, transaction: bool = True) -> _Pipe:
        return _Pipe(self)

    def close(self) -> None:
        pass

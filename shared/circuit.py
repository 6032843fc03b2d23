"""A consecutive-failure circuit breaker for an optional dependency (the verdict cache).

    closed ──(``failures`` consecutive failures)──► open
    open ──(``reset_s`` elapsed: the next call is the one trial)──► half_open
    half_open ──(trial succeeds)──► closed        half_open ──(trial fails)──► open

While open, :meth:`allow` says no and callers skip the dependency (no request waits on a
dependency known to be down). Single-threaded by design: the workers' loop is synchronous.
The clock is passed in (monotonic seconds) so tests drive it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; one trial call after ``reset_s``."""

    def __init__(
        self,
        *,
        failures: int,
        reset_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or reset_s <= 0:
            raise ValueError("failures must be >= 1 and reset_s > 0")
        self._threshold = failures
        self._reset_s = reset_s
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> bool:
        """Whether to call the dependency now (open past ``reset_s``: one trial call)."""
        if self._state == "closed":
            return True
        if self._state == "open" and self._clock() - self._opened_at >= self._reset_s:
            self._state = "half_open"
            return True
        return False  # open and cooling down, or a trial already in flight

    def record_success(self) -> None:
        self._state = "closed"
        self._failures = 0

    def record_failure(self) -> None:
        self._failures += 1
        if self._state == "half_open" or self._failures >= self._threshold:
            self._state = "open"
            self._opened_at = self._clock()

"""The circuit breaker's state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from shared.circuit import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(failures=3, reset_s=5.0, clock=clock)


def test_it_opens_after_consecutive_failures_only() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the streak
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()


def test_half_open_after_the_reset_time_allows_one_trial() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
    assert breaker.state == "half_open"
    assert not breaker.allow(), "only one trial while half open"


def test_a_successful_trial_closes_it() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow()


def test_a_failed_trial_reopens_it_for_another_full_period() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


@pytest.mark.parametrize(("failures", "reset_s"), [(0, 1.0), (1, 0.0)])
def test_bad_settings_are_rejected(failures: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures=failures, reset_s=reset_s)

"""The outbox relay doubles as the gateway's database probe."""

from __future__ import annotations

import threading
from typing import Any

from services.gateway.wiring import OutboxRelay
from shared.errors import DatabaseError
from shared.stack.process import wait_until


class _Appeals:
    def __init__(self) -> None:
        self.fail = True
        self.passes = threading.Semaphore(0)

    def relay(self) -> int:
        self.passes.release()
        if self.fail:
            raise DatabaseError("appeal store: connection refused")
        return 0


def test_a_failed_pass_marks_the_database_down_until_one_succeeds() -> None:
    appeals = _Appeals()
    relay = OutboxRelay(appeals, interval_s=0.01)  # type: ignore[arg-type]
    assert relay.database_ok
    relay.start()
    try:
        assert appeals.passes.acquire(timeout=10) and appeals.passes.acquire(timeout=10)
        assert relay.database_ok is False
        appeals.fail = False
        assert wait_until(lambda: relay.database_ok, timeout_s=10, interval_s=0.01)
    finally:
        relay.stop()


def test_an_unexpected_error_does_not_end_the_relay() -> None:
    calls: list[Any] = []
    done = threading.Event()

    class Boom:
        def relay(self) -> int:
            calls.append(1)
            if len(calls) >= 3:
                done.set()
            raise RuntimeError("bug")

    relay = OutboxRelay(Boom(), interval_s=0.01)  # type: ignore[arg-type]
    relay.start()
    try:
        assert done.wait(10)  # still relaying after two failures
        assert relay.database_ok is False
    finally:
        relay.stop()

"""Adaptive batching in the transactional loop: no wait on an idle input, pacing under load;
the transactional producer's settings."""

from __future__ import annotations

from typing import Any

import pytest

from shared import broker
from shared.broker import TransactionalLoop


class _Consumer:
    """Hands out queued records; records every (num_messages, timeout) it is asked for."""

    def __init__(self) -> None:
        self.queued: list[str] = []
        self.calls: list[tuple[int, float]] = []

    def consume(self, num_messages: int, timeout: float) -> list[str]:
        self.calls.append((num_messages, timeout))
        taken, self.queued = self.queued[:num_messages], self.queued[num_messages:]
        return taken


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> _Consumer:
    fake = _Consumer()
    monkeypatch.setattr(broker, "Consumer", lambda _config: fake)
    monkeypatch.setattr(broker, "Producer", lambda _config: object())
    return fake


_LOOP_OPTIONS: dict[str, Any] = {
    "base_config": {},
    "input_topic": "in",
    "group_id": "g",
    "transactional_id": "g.0",
    "handler": lambda batch: [],
    "batch_max": 8,
    "batch_wait_ms": 20,
    "transaction_timeout_ms": 2000,
}


def _loop(batch_wait_ms: int, batch_max: int = 8) -> Any:
    return TransactionalLoop(
        **{**_LOOP_OPTIONS, "batch_max": batch_max, "batch_wait_ms": batch_wait_ms}
    )


def test_records_already_fetched_go_at_once(consumer: _Consumer) -> None:
    loop = _loop(batch_wait_ms=20)
    consumer.queued = ["a", "b"]
    assert loop._next_batch() == ["a", "b"]
    assert consumer.calls == [(8, 0)]  # first batch after an idle spell: no wait at all


def test_idle_input_blocks_for_the_first_record_then_takes_the_rest(consumer: _Consumer) -> None:
    loop = _loop(batch_wait_ms=0)
    assert loop._next_batch() == []
    assert consumer.calls == [(8, 0), (1, broker._IDLE_WAIT_S)]
    consumer.calls.clear()
    consumer.queued = ["a", "b", "c"]
    assert loop._next_batch() == ["a", "b", "c"]
    assert all(timeout == 0 for _, timeout in consumer.calls)


def test_busy_input_is_paced_by_batch_wait(consumer: _Consumer) -> None:
    loop = _loop(batch_wait_ms=1000)
    consumer.queued = ["a"]
    assert loop._next_batch() == ["a"]
    consumer.calls.clear()
    consumer.queued = ["b"]  # the next record comes right after: wait for more, bounded
    assert loop._next_batch() == ["b"]
    (drain, paced) = consumer.calls
    assert drain == (8, 0)
    assert paced[0] == 7 and 0 < paced[1] <= 1.0


def test_a_full_batch_never_waits(consumer: _Consumer) -> None:
    loop = _loop(batch_wait_ms=1000, batch_max=2)
    consumer.queued = ["a", "b", "c", "d"]
    assert loop._next_batch() == ["a", "b"]
    assert loop._next_batch() == ["c", "d"]
    assert all(timeout == 0 for _, timeout in consumer.calls)


def test_transactional_producer_retries_concurrent_transactions_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Back-to-back transactions meet CONCURRENT_TRANSACTIONS; librdkafka's 100 ms default
    # backoff before the retry showed up as 100-130 ms commit stalls (docs/BENCHMARKS.md).
    configs: list[dict[str, Any]] = []
    monkeypatch.setattr(broker, "Consumer", lambda _config: _Consumer())

    def producer(config: dict[str, Any]) -> object:
        configs.append(config)
        return object()

    monkeypatch.setattr(broker, "Producer", producer)
    _loop(batch_wait_ms=20)
    TransactionalLoop(**{**_LOOP_OPTIONS, "retry_backoff_ms": 25})
    assert [c["retry.backoff.ms"] for c in configs] == [10, 25]
    assert all(c["retry.backoff.max.ms"] == 1000 for c in configs)

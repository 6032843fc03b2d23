"""TransactionalLoop error paths (issue #6) against fake clients: no broker needed.

A fake broker keeps the input log, the committed outputs and the committed consumer offsets;
the fake producer and consumer act on it the way librdkafka's transactional clients do, and
each producer call can be scripted to fail (abortable, retriable, fatal) or to block forever.
The bar everywhere: every input has exactly one committed output, or the loop gives up (a
TransactionalFailure for the supervisor, or a clean return on stop) with nothing half done.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from shared import broker
from shared.broker import Incoming, Outgoing, TransactionalFailure, TransactionalLoop

TOPIC = "in"
PARTITIONS = 2


def _abortable(reason: str = "abortable") -> KafkaException:
    return KafkaException(KafkaError(KafkaError._STATE, reason, txn_requires_abort=True))


def _retriable(reason: str = "timed out") -> KafkaException:
    return KafkaException(KafkaError(KafkaError._TIMED_OUT, reason, retriable=True))


def _fatal(reason: str = "fenced") -> KafkaException:
    return KafkaException(KafkaError(KafkaError._FENCED, reason, fatal=True))


#: A scripted outcome of one producer call: an exception to raise, BLOCK (never returns) or
#: None (succeeds).
BLOCK = "block"
Step = KafkaException | str | None


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes
    _error: KafkaError | None = None

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)


@dataclass
class FakeBroker:
    """The state both fake clients share; ``script`` scripts the producer's calls."""

    log: dict[int, list[bytes]] = field(default_factory=dict)
    committed_offsets: dict[int, int] = field(default_factory=dict)
    outputs: list[bytes] = field(default_factory=list)
    script: dict[str, list[Step]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    seeks: list[tuple[int, int]] = field(default_factory=list)
    consumer_errors: list[KafkaError] = field(default_factory=list)
    committed_failures: list[KafkaException] = field(default_factory=list)
    seek_failure: KafkaException | None = None
    blocked: threading.Event = field(default_factory=threading.Event)  # a call is blocking
    release: threading.Event = field(default_factory=threading.Event)  # unblocks it (teardown)
    stop: threading.Event = field(default_factory=threading.Event)
    closed: bool = False
    pipelined: bool = True

    def step(self, name: str) -> None:
        self.calls.append(name)
        planned = self.script.get(name)
        if not planned:
            return
        outcome = planned.pop(0)
        if outcome is None:
            return
        if outcome == BLOCK:
            self.blocked.set()
            self.release.wait()
            raise _retriable("released at teardown")
        assert isinstance(outcome, KafkaException)
        raise outcome


class FakeProducer:
    def __init__(self, world: FakeBroker) -> None:
        self.world = world
        self.pending: list[bytes] = []
        self.pending_offsets: dict[int, int] = {}
        self.in_txn = False

    def init_transactions(self, timeout: float) -> None:
        self.world.step("init_transactions")

    def begin_transaction(self) -> None:
        assert not self.in_txn, "begin_transaction inside an open transaction"
        self.world.calls.append("begin_transaction")
        self.in_txn = True

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        assert self.in_txn
        self.pending.append(value)

    def poll(self, timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(
        self, offsets: Sequence[TopicPartition], group: object, timeout: float
    ) -> None:
        self.world.step("send_offsets_to_transaction")
        self.pending_offsets.update({tp.partition: tp.offset for tp in offsets})

    def commit_transaction(self, timeout: float) -> None:
        self.world.step("commit_transaction")
        self.world.outputs.extend(self.pending)
        self.world.committed_offsets.update(self.pending_offsets)
        self._reset()

    def abort_transaction(self, timeout: float) -> None:
        self.world.step("abort_transaction")
        self._reset()

    def flush(self, timeout: float) -> int:
        self.world.calls.append("flush")
        return 0

    def _reset(self) -> None:
        self.pending, self.pending_offsets, self.in_txn = [], {}, False


class FakeConsumer:
    def __init__(self, world: FakeBroker) -> None:
        self.world = world
        self.position: dict[int, int] = {}
        self.on_assign: Callable[[Any, Any], None] | None = None
        self.on_revoke: Callable[[Any, Any], None] | None = None

    def subscribe(self, topics: list[str], **callbacks: Callable[[Any, Any], None]) -> None:
        self.on_assign = callbacks["on_assign"]
        self.on_revoke = callbacks["on_revoke"]

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if not self.position:  # first call: the group assigns both partitions
            self.position = {p: self.world.committed_offsets.get(p, 0) for p in self.world.log}
            assert self.on_assign is not None
            self.on_assign(self, self.assignment())
        if self.world.consumer_errors:
            return [FakeMessage(TOPIC, 0, -1, b"", self.world.consumer_errors.pop(0))]
        batch: list[FakeMessage] = []
        for partition, values in sorted(self.world.log.items()):
            while self.position[partition] < len(values) and len(batch) < num_messages:
                offset = self.position[partition]
                batch.append(FakeMessage(TOPIC, partition, offset, values[offset]))
                self.position[partition] += 1
        done = self.world.committed_offsets == {p: len(v) for p, v in self.world.log.items()}
        if not batch and done:
            self.world.stop.set()  # caught up and all committed: the test is over
        return batch

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, p) for p in sorted(self.position)]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.world.calls.append("committed")
        if self.world.committed_failures:
            raise self.world.committed_failures.pop(0)
        return [
            TopicPartition(
                tp.topic, tp.partition, self.world.committed_offsets.get(tp.partition, -1001)
            )
            for tp in partitions
        ]

    def seek(self, tp: TopicPartition) -> None:
        if self.world.seek_failure is not None:
            raise self.world.seek_failure
        self.world.seeks.append((tp.partition, tp.offset))
        self.position[tp.partition] = 0 if tp.offset == OFFSET_BEGINNING else tp.offset

    def consumer_group_metadata(self) -> object:
        return object()

    def close(self) -> None:
        self.world.closed = True


@pytest.fixture(params=[True, False], ids=["pipelined", "inline"])
def pipelined(request: pytest.FixtureRequest) -> bool:
    """Every test runs with the commit overlapping the next batch (default) and inline."""
    return bool(request.param)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, pipelined: bool) -> Iterator[FakeBroker]:
    state = FakeBroker(
        log={p: [f"m{p}-{i}".encode() for i in range(10)] for p in range(PARTITIONS)}
    )
    monkeypatch.setattr(broker, "Producer", lambda _config: FakeProducer(state))
    monkeypatch.setattr(broker, "Consumer", lambda _config: FakeConsumer(state))
    state.pipelined = pipelined
    try:
        yield state
    finally:
        state.release.set()  # a helper thread still blocked in a fake call ends


def _echo(batch: Sequence[Incoming]) -> list[Outgoing]:
    return [Outgoing("out", record.value or b"") for record in batch]


def _loop(world: FakeBroker, **overrides: Any) -> TransactionalLoop:
    options: dict[str, Any] = {
        "pipelined_commits": world.pipelined,
        "base_config": {},
        "input_topic": TOPIC,
        "group_id": "g",
        "transactional_id": "g.0",
        "handler": _echo,
        "batch_max": 4,
        "batch_wait_ms": 0,
        "transaction_timeout_ms": 2000,  # each call gets 1 s
        "retry_budget_s": 5.0,
        "watchdog_grace_s": 0.2,
        "stop_grace_s": 0.2,
        **overrides,
    }
    return TransactionalLoop(**options)


def _run_in_thread(
    loop: TransactionalLoop, stop: threading.Event
) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            loop.run(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def _assert_exactly_once(world: FakeBroker) -> None:
    expected = Counter(value for values in world.log.values() for value in values)
    assert Counter(world.outputs) == expected
    assert world.committed_offsets == {p: len(v) for p, v in world.log.items()}


def test_a_clean_run_commits_every_record_once(world: FakeBroker) -> None:
    _loop(world).run(world.stop)
    _assert_exactly_once(world)
    assert "abort_transaction" not in world.calls
    assert world.closed


def test_an_abortable_commit_is_aborted_and_the_batch_redone_from_the_committed_offsets(
    world: FakeBroker,
) -> None:
    world.script["commit_transaction"] = [_abortable()]
    _loop(world).run(world.stop)
    _assert_exactly_once(world)
    assert world.calls.count("abort_transaction") == 1
    # Nothing was committed before the first batch: back to the beginning of each partition.
    assert sorted(world.seeks) == [(0, OFFSET_BEGINNING), (1, OFFSET_BEGINNING)]


def test_an_abort_mid_stream_rewinds_to_what_was_committed_not_to_the_batch(
    world: FakeBroker,
) -> None:
    # Batches of 4 from partition 0: [0-3] commits, [4-7] fails in send_offsets.
    calls = {"n": 0}
    original = FakeProducer.send_offsets_to_transaction

    def second_fails(
        self: FakeProducer, offsets: Sequence[TopicPartition], group: object, timeout: float
    ) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise _abortable("rebalanced")
        original(self, offsets, group, timeout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeProducer, "send_offsets_to_transaction", second_fails)
        _loop(world).run(world.stop)
    _assert_exactly_once(world)
    # Partition 0 goes back to 4 (committed by the first batch), partition 1 to its start.
    assert sorted(world.seeks) == [(0, 4), (1, OFFSET_BEGINNING)]


def test_a_retriable_commit_is_retried_and_commits_once(world: FakeBroker) -> None:
    world.script["commit_transaction"] = [_retriable(), _retriable()]
    _loop(world).run(world.stop)
    _assert_exactly_once(world)
    assert "abort_transaction" not in world.calls


def test_a_retriable_abort_is_retried_before_the_rewind(world: FakeBroker) -> None:
    world.script["commit_transaction"] = [_abortable()]
    world.script["abort_transaction"] = [_retriable()]
    _loop(world).run(world.stop)
    _assert_exactly_once(world)
    assert world.calls.count("abort_transaction") == 2


def test_committed_offsets_are_asked_again_until_they_are_known(world: FakeBroker) -> None:
    world.script["commit_transaction"] = [_abortable()]
    world.committed_failures = [_retriable("coordinator loading")]
    _loop(world).run(world.stop)
    _assert_exactly_once(world)
    assert world.calls.count("committed") == 2


@pytest.mark.parametrize("call", ["send_offsets_to_transaction", "commit_transaction"])
def test_a_fatal_error_exits_for_a_restart_without_touching_the_producer_again(
    world: FakeBroker, call: str
) -> None:
    world.script[call] = [_fatal()]
    with pytest.raises(TransactionalFailure, match="fenced"):
        _loop(world).run(world.stop)
    assert world.outputs == [] and world.committed_offsets == {}
    after = world.calls[world.calls.index(call) + 1 :]
    assert "abort_transaction" not in after and "flush" not in after
    assert world.closed


def test_a_fatal_consumer_error_exits_for_a_restart(world: FakeBroker) -> None:
    world.consumer_errors = [KafkaError(KafkaError._FENCED, "static member fenced", fatal=True)]
    with pytest.raises(TransactionalFailure, match="static member fenced"):
        _loop(world).run(world.stop)
    assert world.outputs == []


def test_a_call_that_never_returns_is_declared_wedged(world: FakeBroker) -> None:
    """librdkafka#5456: send_offsets_to_transaction ignoring its timeout."""
    world.script["send_offsets_to_transaction"] = [BLOCK]
    with pytest.raises(TransactionalFailure, match="wedged"):
        _loop(world).run(world.stop)
    assert world.outputs == []
    after = world.calls[world.calls.index("send_offsets_to_transaction") + 1 :]
    assert after == [], "a wedged producer is never called again"
    assert world.closed


def test_retries_stop_when_the_budget_is_spent(world: FakeBroker) -> None:
    world.script["commit_transaction"] = [_retriable()] * 100
    with pytest.raises(TransactionalFailure, match="still failing"):
        _loop(world, retry_budget_s=0.5).run(world.stop)
    assert world.outputs == []


def test_a_failed_rewind_is_fatal_rather_than_skipping_the_batch(world: FakeBroker) -> None:
    world.script["commit_transaction"] = [_abortable()]
    world.seek_failure = KafkaException(KafkaError(KafkaError._STATE, "erroneous state"))
    with pytest.raises(TransactionalFailure, match="cannot rewind"):
        _loop(world).run(world.stop)
    assert world.outputs == []


def test_stop_during_a_blocked_call_ends_the_loop(world: FakeBroker) -> None:
    """SIGTERM is effective even while librdkafka never returns."""
    world.script["send_offsets_to_transaction"] = [BLOCK]
    stop = threading.Event()
    loop = _loop(world, transaction_timeout_ms=600_000)  # the watchdog alone would wait 300 s
    thread, errors = _run_in_thread(loop, stop)
    assert world.blocked.wait(30)
    stop.set()
    thread.join(60)
    assert not thread.is_alive(), "stop was ignored"
    assert errors == []  # a clean stop; the open transaction is left to the coordinator
    assert world.outputs == []
    after = world.calls[world.calls.index("send_offsets_to_transaction") + 1 :]
    assert after == [], "the busy producer is not called while its call is still running"
    assert world.closed


def test_stop_during_retries_ends_the_loop(world: FakeBroker) -> None:
    world.script["commit_transaction"] = [_retriable()] * 10_000
    stop = threading.Event()
    entered = threading.Event()
    original = FakeProducer.commit_transaction

    def failing_commit(self: FakeProducer, timeout: float) -> None:
        entered.set()
        original(self, timeout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeProducer, "commit_transaction", failing_commit)
        thread, errors = _run_in_thread(_loop(world, retry_budget_s=600.0), stop)
        assert entered.wait(30)
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "stop was ignored"
    assert errors == []
    assert world.outputs == []
    last_commit = len(world.calls) - 1 - world.calls[::-1].index("commit_transaction")
    assert "abort_transaction" in world.calls[last_commit:], "the open transaction is aborted"
    assert world.closed


def test_a_pipelined_commit_overlaps_the_next_batch_and_an_inline_one_does_not(
    world: FakeBroker,
) -> None:
    committing = threading.Event()  # set while a commit is in progress
    overlaps: list[bool] = []
    original = FakeProducer.commit_transaction

    def slow_commit(self: FakeProducer, timeout: float) -> None:
        committing.set()
        world.release.wait(0.05)  # a broker round trip
        original(self, timeout)
        committing.clear()

    def handler(batch: Sequence[Incoming]) -> list[Outgoing]:
        # Handling takes a while; does a commit run meanwhile?
        overlaps.append(committing.wait(0.2))
        return _echo(batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeProducer, "commit_transaction", slow_commit)
        _loop(world, handler=handler).run(world.stop)
    _assert_exactly_once(world)
    assert any(overlaps) == world.pipelined
    # Whatever overlaps, transactions never do: each begins after the previous commit ended.
    begins = [i for i, call in enumerate(world.calls) if call == "begin_transaction"]
    commits = [i for i, call in enumerate(world.calls) if call == "commit_transaction"]
    assert len(begins) == len(commits) == 5  # 20 records in batches of 4
    assert all(c < b for c, b in zip(commits, begins[1:], strict=False))


def test_a_failed_pipelined_commit_drops_the_batch_handled_meanwhile_and_redoes_both(
    world: FakeBroker,
) -> None:
    handled: list[bytes] = []

    def handler(batch: Sequence[Incoming]) -> list[Outgoing]:
        handled.extend(record.value or b"" for record in batch)
        return _echo(batch)

    world.script["commit_transaction"] = [None, _abortable("coordinator moved")]
    _loop(world, handler=handler).run(world.stop)
    _assert_exactly_once(world)
    # Batch 2's commit failed: batch 2 is handled again, and (pipelined) so is batch 3,
    # which was handled while that commit ran and was never published.
    redone = len(handled) - 20
    assert redone == (8 if world.pipelined else 4)


def test_a_rebalance_lets_the_commit_in_flight_land_first(world: FakeBroker) -> None:
    """The revoked partitions' offsets are in the pending commit: it lands before the group
    moves them (as librdkafka calls on_revoke from inside consume, mid-loop)."""
    consumers: list[FakeConsumer] = []
    landed_at_revoke: list[bool] = []
    original = FakeProducer.commit_transaction

    def slow_commit(self: FakeProducer, timeout: float) -> None:
        world.release.wait(0.1)
        original(self, timeout)

    def tracking(_config: Any) -> FakeConsumer:
        consumer = FakeConsumer(world)
        consumers.append(consumer)
        return consumer

    def handler(batch: Sequence[Incoming]) -> list[Outgoing]:
        consumer = consumers[0]
        if batch[0].offset == 4 and batch[0].partition == 0:  # the second batch
            assert consumer.on_revoke is not None
            consumer.on_revoke(consumer, consumer.assignment())
            landed_at_revoke.append(world.committed_offsets.get(0) == 4)
        return _echo(batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeProducer, "commit_transaction", slow_commit)
        patch.setattr(broker, "Consumer", tracking)
        _loop(world, handler=handler).run(world.stop)
    _assert_exactly_once(world)
    assert landed_at_revoke == [True]

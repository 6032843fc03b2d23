"""Kafka adapters: client configuration and the transactional batch loop every worker runs.

Delivery guarantee. Each batch is processed inside one Kafka transaction: the
outputs (next-stage messages and dead letters) and the consumer offsets of the
batch are committed atomically (``send_offsets_to_transaction``). A worker
killed between publishing and committing leaves an aborted (or later aborted)
transaction, its offsets uncommitted; the batch is redelivered and reprocessed,
and a ``read_committed`` consumer sees exactly one output per input. The
transactional id is stable per worker instance, so a restarted instance fences
its predecessor and aborts its open transaction at once instead of leaving
downstream readers waiting for the transaction timeout.

Pipelined commits (``pipelined_commits``, the default): a batch's commit — offsets and
EndTxn, a round trip to the broker — runs on a helper thread while the next batch is fetched
and handled. That batch's transaction begins only after the commit succeeded, so outputs are
published only in their own batch's transaction and in order. A commit that fails is
answered as below, and the batch handled meanwhile (consumed past the committed offsets) is
dropped and redone with it.

Failure handling (issue #6: a broker restart mid-run). Errors of the
transactional API come in three kinds, and each has one answer:

* retriable (a request timed out, the coordinator is loading or moving): the same
  call is retried with backoff, for at most ``retry_budget_s``;
* abortable (``txn_requires_abort``: a produce failed, the group rebalanced, the
  coordinator timed the transaction out): the transaction is aborted and every
  owned partition is rewound to its *committed* offset, which is exactly where a
  restarted instance would resume; the batch is then consumed and processed again.
  Rewinding to the committed offsets (not to the batch in hand) also covers a
  commit that reached the coordinator although the client reported it failed;
* fatal (a fenced or otherwise unusable producer), a retry budget exhausted, a
  rewind that fails: :class:`TransactionalFailure` is raised and the process
  exits non-zero. The supervisor (Kubernetes, compose ``restart:``, the e2e
  tests) restarts it; the new instance's ``init_transactions`` fences the old
  epoch and aborts its open transaction, and its consumer starts from the
  committed offsets. A process exit, not an in-process producer rebuild, is the
  one recovery path for everything a retry cannot fix: it is the same path as a
  crash, which is already proven exactly-once, and it leaves no half-dead client
  behind.

Every blocking call is bounded twice: by its librdkafka timeout and by a watchdog
that runs the call on a helper thread. librdkafka does not always honour the
timeout: ``send_offsets_to_transaction`` can block forever once the group
coordinator it cached went away (confluentinc/librdkafka#5456, #5511), which is
what wedged the workers when the broker restarted. A call that overruns its
timeout by ``watchdog_grace_s`` marks the client wedged: TransactionalFailure,
exit, restart. The main thread waits in short slices, so SIGTERM always takes
effect: the batch in hand gets ``stop_grace_s`` to finish, then its transaction
is abandoned (aborted by the coordinator or the successor) and the loop exits.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from shared import kafka_admin
from shared.errors import InfrastructureError
from shared.settings import KafkaSettings

__all__ = [
    "BatchHandler",
    "BatchObserver",
    "Incoming",
    "LagObserver",
    "Outgoing",
    "StatsObserver",
    "TransactionalFailure",
    "TransactionalLoop",
    "client_config",
]

log = logging.getLogger("clearpath.broker")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed record, detached from the client."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    #: The decoded message ``value`` encodes, when the record never left the process (the
    #: chained worker's hand-offs): the next step reads it instead of decoding the bytes.
    message: object | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to publish in the batch's transaction."""

    topic: str
    value: bytes
    key: bytes | None = None
    #: The message ``value`` encodes, for a consumer in the same process (never published).
    message: object | None = field(default=None, compare=False, repr=False)


BatchHandler = Callable[[Sequence[Incoming]], Sequence[Outgoing]]
#: Called after each committed batch with (records consumed, seconds spent in the handler).
BatchObserver = Callable[[int, float], None]
#: Called every ``lag_interval_s`` with (group, partition, records behind the log end) per
#: assigned partition, and with lag None for a partition this member no longer owns.
LagObserver = Callable[[str, int, int | None], None]
#: Called with ("consumer" | "producer", librdkafka statistics as parsed JSON).
StatsObserver = Callable[[str, dict[str, Any]], None]


class TransactionalFailure(InfrastructureError):
    """The transactional client cannot go on in this process: a fatal or fenced producer, a
    call stuck past its deadline, retries exhausted, a rewind that failed. The worker exits
    non-zero and is restarted; its successor resumes from the committed offsets."""


class _Abandoned(Exception):
    """Stop was requested while a call was still in progress or being retried."""


@dataclass
class _Commit:
    """A batch's commit running on a helper thread while the next batch is handled."""

    size: int
    handled_s: float
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


#: Longest timeout handed to one librdkafka call.
_MAX_CALL_TIMEOUT_S = 30.0
#: Backoff between retries of a retriable error (doubling).
_BACKOFF_S = (0.1, 2.0)
#: Longest wait for the first record of a batch while the input is idle (stop is seen between).
_IDLE_WAIT_S = 0.1
#: How often the main thread looks at the stop flag while a call runs on its helper thread.
_TICK_S = 0.1
#: Bounds of the calls made while shutting down (stop was already requested).
_SHUTDOWN_ABORT_S = 3.0
_SHUTDOWN_CLOSE_S = 5.0
_SHUTDOWN_FLUSH_S = 2.0


def client_config(kafka: KafkaSettings, bootstrap: str) -> dict[str, Any]:
    """librdkafka settings shared by every client: the brokers plus security (SASL, TLS)."""
    return {"bootstrap.servers": bootstrap, **kafka_admin.client_config(kafka)}


def _stats_config(client: str, observer: StatsObserver | None, interval_ms: int) -> dict[str, Any]:
    """librdkafka's periodic statistics (broker round trips, queues) for the observer."""
    if observer is None:
        return {}

    def on_stats(raw: str) -> None:
        with contextlib.suppress(ValueError):  # a metric must never stop the loop
            observer(client, json.loads(raw))

    return {"statistics.interval.ms": interval_ms, "stats_cb": on_stats}


def _incoming(message: Message) -> Incoming:
    _, timestamp = message.timestamp()
    return Incoming(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        value=message.value(),
        timestamp_ms=timestamp,
    )


def _kafka_error(exc: KafkaException) -> KafkaError | None:
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


def _abortable(exc: KafkaException) -> bool:
    error = _kafka_error(exc)
    return error is not None and not error.fatal() and error.txn_requires_abort()


def _retriable_txn(error: KafkaError) -> bool:
    """A transactional call that may simply be called again (librdkafka's contract)."""
    return not error.fatal() and not error.txn_requires_abort() and error.retriable()


def _not_fatal(error: KafkaError) -> bool:
    """Consumer look-ups (committed offsets): anything short of fatal is worth another try."""
    return not error.fatal()


class TransactionalLoop:
    """Consume a batch → handle → publish outputs and offsets in one transaction → repeat."""

    def __init__(
        self,
        *,
        base_config: dict[str, Any],
        input_topic: str,
        group_id: str,
        transactional_id: str,
        handler: BatchHandler,
        batch_max: int,
        batch_wait_ms: int,
        transaction_timeout_ms: int,
        session_timeout_ms: int = 10_000,
        group_instance_id: str | None = None,
        observer: BatchObserver | None = None,
        lag_observer: LagObserver | None = None,
        lag_interval_s: float = 5.0,
        stats_observer: StatsObserver | None = None,
        stats_interval_ms: int = 5000,
        retry_budget_s: float = 60.0,
        watchdog_grace_s: float = 2.0,
        stop_grace_s: float = 5.0,
        pipelined_commits: bool = True,
        retry_backoff_ms: int = 10,
    ) -> None:
        self._input_topic = input_topic
        self._pipelined = pipelined_commits
        #: The previous batch's commit, still running on its helper thread (pipelined mode).
        self._commit: _Commit | None = None
        self._group_id = group_id
        self._lag_observer = lag_observer
        self._lag_interval_s = lag_interval_s
        self._lag_due = 0.0
        self._handler = handler
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_ms / 1000
        self._last_batch_at = 0.0
        self._observer = observer
        # A call may take at most half the transaction timeout, so a retry still fits before
        # the coordinator times the transaction out.
        self._call_timeout_s = min(_MAX_CALL_TIMEOUT_S, max(1.0, transaction_timeout_ms / 2000))
        self._retry_budget_s = retry_budget_s
        self._watchdog_grace_s = watchdog_grace_s
        self._stop_grace_s = stop_grace_s
        self._stop = threading.Event()
        self._stop_deadline: float | None = None
        self._in_transaction = False
        #: Clients ("producer", "consumer") with a call left running on a helper thread:
        #: never called again in this process.
        self._stuck: set[str] = set()
        self._failed = False
        # After a broker restart, reconnect within a second rather than librdkafka's 10 s.
        reconnect = {"reconnect.backoff.max.ms": 1000}
        self._consumer = Consumer(
            {
                **reconnect,
                **base_config,
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
                "session.timeout.ms": session_timeout_ms,
                # Static membership: a restarted replica takes its partitions back at once
                # instead of waiting for its predecessor's session to time out.
                **({"group.instance.id": group_instance_id} if group_instance_id else {}),
                **_stats_config("consumer", stats_observer, stats_interval_ms),
            }
        )
        self._producer = Producer(
            {
                **reconnect,
                **base_config,
                "transactional.id": transactional_id,
                "transaction.timeout.ms": transaction_timeout_ms,
                # Back-to-back transactions: the next batch's AddOffsetsToTxn often reaches
                # the coordinator before the previous EndTxn's markers are written and is
                # answered CONCURRENT_TRANSACTIONS; it is retried after this backoff
                # (librdkafka's default 100 ms; docs/BENCHMARKS.md, session 9).
                "retry.backoff.ms": retry_backoff_ms,
                "retry.backoff.max.ms": 1000,
                "linger.ms": 5,
                "compression.type": "lz4",
                **_stats_config("producer", stats_observer, stats_interval_ms),
            }
        )
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; the batch in hand is finished and committed first.

        Raises :class:`TransactionalFailure` when the clients cannot go on (see the module
        docstring): the process should exit non-zero and be restarted.
        """
        self._stop = stop
        try:
            self._retry("producer", "init_transactions", self._producer.init_transactions)
            # Ready once the group has handed this member its partitions (possibly none).
            self._consumer.subscribe(
                [self._input_topic],
                on_assign=lambda _c, _p: self.ready.set(),
                on_revoke=lambda _c, parts: self._revoked(parts),
                on_lost=lambda _c, parts: self._forget(parts),
            )
            while not stop.is_set():
                if self._commit is not None and self._commit.done.is_set():
                    self._settle()
                batch = [_incoming(m) for m in self._next_batch() if self._usable(m)]
                if batch:
                    self._process(batch)
                else:
                    self._settle()  # idle: nothing to overlap the commit with
                self._report_lag()
            self._settle()  # the batch in hand is committed before the loop ends
        except _Abandoned as exc:
            log.warning(
                "stop requested during %s: the batch in hand is not committed; it is redone "
                "from the committed offsets by the next instance",
                exc,
            )
        except TransactionalFailure as exc:
            self._failed = True
            log.error("transactional client failed, exiting for a restart: %s", exc)
            raise
        except KafkaException as exc:
            self._failed = True
            log.error("Kafka client failed, exiting for a restart: %s", exc)
            raise TransactionalFailure(str(exc)) from exc
        finally:
            self._shutdown()

    def _next_batch(self) -> list[Message]:
        """Adaptive batching: take what is already fetched, else block for the first record.

        Nothing waits for a batch to fill while the input is idle: after a quiet spell a
        record goes through at once, with whatever arrived in the same fetch. While records
        keep coming, batches start at most every ``batch_wait_ms`` (pacing): a busy stage
        commits fewer, larger transactions instead of one per record, which is what the
        broker and the classifier can afford on a small machine. Under a backlog batches are
        full (``batch_max``) and nothing waits either. See docs/BENCHMARKS.md (latency).
        """
        messages: list[Message] = self._consumer.consume(self._batch_max, 0)
        if not messages:
            # Returns as soon as one record is there; bounded so stop and lag reports are seen.
            messages = self._consumer.consume(1, _IDLE_WAIT_S)
            if not messages:
                return []
            if self._batch_max > 1:
                messages += self._consumer.consume(self._batch_max - 1, 0)
        wait_s = self._last_batch_at + self._batch_wait_s - time.monotonic()
        if wait_s > 0 and len(messages) < self._batch_max:
            messages += self._consumer.consume(self._batch_max - len(messages), wait_s)
        self._last_batch_at = time.monotonic()
        return messages

    @staticmethod
    def _usable(message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        if error.fatal():
            raise KafkaException(error)
        return False

    def _process(self, batch: Sequence[Incoming]) -> None:
        """Handle one batch, then publish its outputs and offsets in one transaction.

        Pipelined (the default), the transaction's commit runs on a helper thread while the
        next batch is fetched and handled; that batch's transaction begins only once the
        commit has succeeded (:meth:`_settle`). The commit is a round trip to the broker and
        its coordinator's work on the markers: on a busy worker it overlaps the next
        batch's classification instead of adding to every batch's cycle. Outputs are still
        published only inside their own batch's transaction, so nothing about exactly-once
        changes; if the previous commit failed and was aborted, the consumer is rewound to
        the committed offsets and this batch (consumed past them) is dropped and redone.
        """
        started = time.perf_counter()
        outputs = self._handler(batch)
        handled_s = time.perf_counter() - started
        if not self._settle():
            return
        self._producer.begin_transaction()  # local state only: never blocks
        self._in_transaction = True
        try:
            for out in outputs:
                self._produce(out)
            offsets = self._next_offsets(batch)
            group = self._consumer.consumer_group_metadata()
            if self._pipelined:
                self._commit = self._start_commit(offsets, group, len(batch), handled_s)
                return
            self._commit_offsets(offsets, group)
        except KafkaException as exc:
            self._abort_and_rewind(exc, len(batch))
            return
        except (TransactionalFailure, _Abandoned):
            raise
        except BaseException:
            self._abort_quietly(self._call_timeout_s)
            raise
        if self._observer is not None:
            self._observer(len(batch), handled_s)

    def _commit_offsets(self, offsets: list[TopicPartition], group: Any) -> None:
        """Add the batch's offsets to the open transaction and commit it (bounded, retried)."""
        self._retry(
            "producer",
            "send_offsets_to_transaction",
            lambda timeout: self._producer.send_offsets_to_transaction(offsets, group, timeout),
        )
        self._retry("producer", "commit_transaction", self._producer.commit_transaction)
        self._in_transaction = False

    def _start_commit(
        self, offsets: list[TopicPartition], group: Any, size: int, handled_s: float
    ) -> _Commit:
        commit = _Commit(size=size, handled_s=handled_s)

        def target() -> None:
            try:
                self._commit_offsets(offsets, group)
            except BaseException as exc:  # handed to the main thread by _settle
                commit.error = exc
            finally:
                commit.done.set()

        threading.Thread(target=target, name="kafka-commit", daemon=True).start()
        return commit

    def _settle(self) -> bool:
        """Wait for the pending commit, if any; False when it was aborted and the consumer
        rewound (whatever was consumed since is redone). Errors that cannot be answered
        with an abort are raised here, in the main thread, as if the commit ran inline.

        The wait needs no bound of its own: every call the commit makes is bounded by its
        timeout and the watchdog, its retries by the retry budget, and after stop by
        ``stop_grace_s``.
        """
        commit, self._commit = self._commit, None
        if commit is None:
            return True
        while not commit.done.wait(_TICK_S):
            pass
        error = commit.error
        if error is None:
            if self._observer is not None:
                self._observer(commit.size, commit.handled_s)
            return True
        if isinstance(error, KafkaException):
            self._abort_and_rewind(error, commit.size)
            return False
        if not isinstance(error, (TransactionalFailure, _Abandoned)):
            self._abort_quietly(self._call_timeout_s)
        raise error

    def _abort_and_rewind(self, exc: KafkaException, size: int) -> None:
        """An abortable error: abort the transaction and rewind; anything else is raised."""
        if not _abortable(exc):
            raise exc
        log.warning(
            "transaction of %d records aborted (%s); rewinding to the committed offsets",
            size,
            exc,
        )
        self._retry("producer", "abort_transaction", self._producer.abort_transaction)
        self._in_transaction = False
        self._rewind()

    def _produce(self, out: Outgoing) -> None:
        while True:
            try:
                self._producer.produce(out.topic, value=out.value, key=out.key)
                return
            except BufferError:
                # The queue drains as deliveries complete or time out (message.timeout.ms is
                # capped by the transaction timeout), so this ends; stop ends it sooner.
                if self._stop.is_set():
                    raise _Abandoned("produce (queue full)") from None
                self._producer.poll(0.05)

    def _rewind(self) -> None:
        """After an abort, seek every owned partition back to its committed offset.

        That is the position a restarted instance would resume from: the aborted batch is
        consumed again, and nothing the coordinator already committed is redone. A partition
        with no committed offset goes back to the beginning (``auto.offset.reset``). A
        rewind that fails is fatal: carrying on from the consumer's position would skip the
        aborted records.
        """
        owned = self._consumer.assignment()
        if not owned:
            return

        def committed(timeout: float) -> list[TopicPartition]:
            found: list[TopicPartition] = self._consumer.committed(owned, timeout=timeout)
            for tp in found:
                if tp.error is not None:  # e.g. offsets still unstable: ask again
                    raise KafkaException(tp.error)
            return found

        for tp in self._retry("consumer", "committed", committed, retriable=_not_fatal):
            target = TopicPartition(tp.topic, tp.partition, tp.offset)
            if tp.offset < 0:
                target = TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING)
            try:
                self._bounded(
                    "consumer", "seek", functools.partial(self._consumer.seek, target), 1.0
                )
            except KafkaException as exc:
                raise TransactionalFailure(
                    f"cannot rewind {tp.topic}[{tp.partition}] to {tp.offset}: {exc}"
                ) from exc

    # -- bounded calls -------------------------------------------------------------------

    def _retry(
        self,
        client: str,
        what: str,
        call: Callable[[float], _T],
        *,
        retriable: Callable[[KafkaError], bool] = _retriable_txn,
    ) -> _T:
        """``call(timeout)``, bounded; retriable errors are retried with backoff until the
        retry budget is spent (TransactionalFailure) or stop is requested (_Abandoned)."""
        give_up = time.monotonic() + self._retry_budget_s
        backoff, backoff_max = _BACKOFF_S
        timeout = self._call_timeout_s
        while True:
            try:
                return self._bounded(client, what, lambda: call(timeout), timeout)
            except KafkaException as exc:
                error = _kafka_error(exc)
                if error is None or not retriable(error):
                    raise
                if time.monotonic() + backoff > give_up:
                    raise TransactionalFailure(
                        f"{what} still failing after {self._retry_budget_s:.0f}s: {error.str()}"
                    ) from exc
                log.warning("%s: %s; retrying in %.1fs", what, error.str(), backoff)
                if self._stop.wait(backoff):
                    raise _Abandoned(what) from exc
                backoff = min(backoff * 2, backoff_max)

    def _bounded(
        self,
        client: str,
        what: str,
        call: Callable[[], _T],
        timeout_s: float,
        *,
        interruptible: bool = True,
    ) -> _T:
        """Run ``call`` (a client call given ``timeout_s``) on a daemon helper thread.

        The main thread waits in ``_TICK_S`` slices, so signal handlers run and ``stop`` is
        seen. Past ``timeout_s`` + the watchdog grace the client is wedged and never called
        again (TransactionalFailure); once stop is requested (``interruptible``), the call
        gets ``stop_grace_s`` more before it is abandoned (_Abandoned).
        """
        outcome: list[tuple[bool, Any]] = []
        done = threading.Event()

        def target() -> None:
            try:
                outcome.append((True, call()))
            except BaseException as exc:  # handed to the waiting thread
                outcome.append((False, exc))
            finally:
                done.set()

        threading.Thread(target=target, name=f"kafka-{what}", daemon=True).start()
        deadline = time.monotonic() + timeout_s + self._watchdog_grace_s
        while not done.wait(_TICK_S):
            if interruptible and self._stop.is_set():
                if self._stop_deadline is None:
                    self._stop_deadline = time.monotonic() + self._stop_grace_s
                if time.monotonic() >= self._stop_deadline:
                    self._stuck.add(client)
                    raise _Abandoned(what)
            if time.monotonic() >= deadline:
                self._stuck.add(client)
                raise TransactionalFailure(
                    f"{client} wedged: {what} still blocked {self._watchdog_grace_s:.0f}s past "
                    f"its {timeout_s:.0f}s timeout"
                )
        ok, value = outcome[0]
        if not ok:
            raise value
        result: _T = value
        return result

    def _abort_quietly(self, timeout_s: float) -> None:
        if "producer" in self._stuck:
            return
        with contextlib.suppress(KafkaException, TransactionalFailure, _Abandoned):
            self._bounded(
                "producer",
                "abort_transaction",
                lambda: self._producer.abort_transaction(timeout_s),
                timeout_s,
                interruptible=False,
            )
        self._in_transaction = False

    def _shutdown(self) -> None:
        """Bounded clean-up: abort an open transaction (so downstream readers need not wait for
        its timeout), close the consumer, flush the producer; a stuck client is left alone."""
        commit, self._commit = self._commit, None
        if commit is not None and not commit.done.wait(
            self._stop_grace_s + self._watchdog_grace_s + _TICK_S
        ):
            self._stuck.add("producer")  # its commit still runs: never call it concurrently
        if self._in_transaction and not self._failed:
            self._abort_quietly(_SHUTDOWN_ABORT_S)
        if "consumer" not in self._stuck:
            with contextlib.suppress(KafkaException, RuntimeError, TransactionalFailure):
                self._bounded(
                    "consumer",
                    "close",
                    self._consumer.close,
                    _SHUTDOWN_CLOSE_S,
                    interruptible=False,
                )
        if "producer" not in self._stuck and not self._failed:
            with contextlib.suppress(KafkaException, TransactionalFailure):
                self._bounded(
                    "producer",
                    "flush",
                    lambda: self._producer.flush(_SHUTDOWN_FLUSH_S),
                    _SHUTDOWN_FLUSH_S,
                    interruptible=False,
                )

    @staticmethod
    def _next_offsets(batch: Sequence[Incoming]) -> list[TopicPartition]:
        last: dict[tuple[str, int], int] = {}
        for record in batch:
            last[(record.topic, record.partition)] = record.offset
        return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]

    # -- consumer lag --------------------------------------------------------------------

    def _report_lag(self) -> None:
        """Every ``lag_interval_s`` (not every batch): log end - position per owned partition.

        The high watermark comes from the last fetch response (``cached=True``, no round
        trip); before the first fetch, or before the first record, the broker is asked.
        """
        now = time.monotonic()
        if self._lag_observer is None or now < self._lag_due:
            return
        self._lag_due = now + self._lag_interval_s
        try:
            owned = self._consumer.assignment()
            if not owned:
                return
            positions = self._consumer.position(owned)
            unknown = [tp for tp in positions if tp.offset < 0]
            committed = (
                {tp.partition: tp.offset for tp in self._consumer.committed(unknown, timeout=2.0)}
                if unknown
                else {}
            )
            for tp in positions:
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    _low, high = self._consumer.get_watermark_offsets(tp, timeout=2.0)
                position = tp.offset if tp.offset >= 0 else committed.get(tp.partition, -1)
                if position < 0:
                    position = _low  # nothing committed yet: everything retained is behind
                self._lag_observer(self._group_id, tp.partition, max(0, high - position))
        except KafkaException:
            return  # a metric must never stop the loop; the next interval tries again

    def _revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions taken away in a rebalance: a commit still in flight carries this
        generation's offsets, so it is given the time of one bounded call to land before
        the group moves on (its outcome is handled by the next :meth:`_settle`)."""
        commit = self._commit
        if commit is not None:
            commit.done.wait(self._call_timeout_s + self._watchdog_grace_s)
        self._forget(partitions)

    def _forget(self, partitions: Sequence[TopicPartition]) -> None:
        """Revoked or lost partitions: their lag is another member's to report now."""
        if self._lag_observer is not None:
            for tp in partitions:
                self._lag_observer(self._group_id, tp.partition, None)

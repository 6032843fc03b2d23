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
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from shared import kafka_admin
from shared.settings import KafkaSettings
import logging as _dbg_logging, faulthandler as _dbg_fh, signal as _dbg_sig
_dbg = _dbg_logging.getLogger('clearpath.broker.dbg')
_dbg_fh.register(_dbg_sig.SIGUSR1, all_threads=True)

__all__ = [
    "BatchHandler",
    "BatchObserver",
    "Incoming",
    "LagObserver",
    "Outgoing",
    "StatsObserver",
    "TransactionalLoop",
    "client_config",
]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One consumed record, detached from the client."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to publish in the batch's transaction."""

    topic: str
    value: bytes
    key: bytes | None = None


BatchHandler = Callable[[Sequence[Incoming]], Sequence[Outgoing]]
#: Called after each committed batch with (records consumed, seconds spent in the handler).
BatchObserver = Callable[[int, float], None]
#: Called every ``lag_interval_s`` with (group, partition, records behind the log end) per
#: assigned partition, and with lag None for a partition this member no longer owns.
LagObserver = Callable[[str, int, int | None], None]
#: Called with ("consumer" | "producer", librdkafka statistics as parsed JSON).
StatsObserver = Callable[[str, dict[str, Any]], None]


#: Tries at committing one transaction before the process gives up (and is restarted).
_COMMIT_ATTEMPTS = 5


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
    ) -> None:
        self._input_topic = input_topic
        self._group_id = group_id
        self._lag_observer = lag_observer
        self._lag_interval_s = lag_interval_s
        self._lag_due = 0.0
        self._handler = handler
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_ms / 1000
        self._observer = observer
        self._consumer = Consumer(
            {
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
                **base_config,
                "transactional.id": transactional_id,
                "transaction.timeout.ms": transaction_timeout_ms,
                "linger.ms": 5,
                "compression.type": "lz4",
                **_stats_config("producer", stats_observer, stats_interval_ms),
            }
        )
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; the batch in hand is finished and committed first."""
        self._producer.init_transactions(30)
        # Ready once the group has handed this member its partitions (possibly none).
        self._consumer.subscribe(
            [self._input_topic],
            on_assign=lambda _c, _p: self.ready.set(),
            on_revoke=lambda _c, parts: self._forget(parts),
            on_lost=lambda _c, parts: self._forget(parts),
        )
        try:
            while not stop.is_set():
                messages = self._consumer.consume(self._batch_max, self._batch_wait_s)
                batch = [_incoming(m) for m in messages if self._usable(m)]
                if batch:
                    self._process(batch)
                self._report_lag()
        finally:
            self._consumer.close()
            self._producer.flush(10)

    @staticmethod
    def _usable(message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        _dbg.info('consume error %r', error)
        if error.fatal():
            raise KafkaException(error)
        return False

    def _process(self, batch: Sequence[Incoming]) -> None:
        """Handle and commit one batch; on an abortable error, abort and rewind to redo it."""
        started = time.perf_counter()
        _dbg.info('batch n=%d first=%s', len(batch), [(r.partition, r.offset) for r in batch[:1]])
        self._producer.begin_transaction()
        try:
            outputs = self._handler(batch)
            handled_s = time.perf_counter() - started
            for out in outputs:
                self._produce(out)
            self._producer.send_offsets_to_transaction(
                self._next_offsets(batch), self._consumer.consumer_group_metadata(), 30
            )
            self._commit()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            _dbg.info('txn error %r abortable=%s retriable=%s fatal=%s', error, getattr(error,'txn_requires_abort',lambda:None)(), getattr(error,'retriable',lambda:None)(), getattr(error,'fatal',lambda:None)())
            if isinstance(error, KafkaError) and error.txn_requires_abort():
                self._producer.abort_transaction(30)
                self._rewind(batch)
                return
            raise
        except BaseException:
            self._abort_quietly()
            raise
        if self._observer is not None:
            self._observer(len(batch), handled_s)

    def _produce(self, out: Outgoing) -> None:
        while True:
            try:
                self._producer.produce(out.topic, value=out.value, key=out.key)
                return
            except BufferError:
                self._producer.poll(0.05)

    def _commit(self) -> None:
        """Commit the open transaction; a few retries, then give up loudly.

        A retriable error (coordinator moving, request timed out) is retried a bounded number
        of times. Past that the process exits with the error: its transaction is aborted by
        the coordinator, and the restarted instance (same transactional id) fences the old
        epoch and redoes the batch from the committed offsets. Retrying forever would keep a
        live-looking worker that makes no progress.
        """
        for attempt in range(_COMMIT_ATTEMPTS):
            try:
                self._producer.commit_transaction(30)
                _dbg.info('committed')
                return
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                _dbg.info('commit error %r', error)
                retriable = isinstance(error, KafkaError) and error.retriable()
                if not retriable or attempt == _COMMIT_ATTEMPTS - 1:
                    raise
                time.sleep(min(0.1 * 2**attempt, 2.0))

    def _abort_quietly(self) -> None:
        with contextlib.suppress(KafkaException):
            self._producer.abort_transaction(10)

    @staticmethod
    def _next_offsets(batch: Sequence[Incoming]) -> list[TopicPartition]:
        last: dict[tuple[str, int], int] = {}
        for record in batch:
            last[(record.topic, record.partition)] = record.offset
        return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]

    def _rewind(self, batch: Sequence[Incoming]) -> None:
        """After an aborted transaction, seek back so the batch is consumed again."""
        first: dict[tuple[str, int], int] = {}
        for record in batch:
            first.setdefault((record.topic, record.partition), record.offset)
        for (topic, partition), offset in first.items():
            # A partition no longer assigned is resumed by its new owner from the committed offset.
            with contextlib.suppress(KafkaException):
                self._consumer.seek(TopicPartition(topic, partition, offset))

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

    def _forget(self, partitions: Sequence[TopicPartition]) -> None:
        """Revoked or lost partitions: their lag is another member's to report now."""
        if self._lag_observer is not None:
            for tp in partitions:
                self._lag_observer(self._group_id, tp.partition, None)

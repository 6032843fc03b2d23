"""A plain idempotent Kafka producer for request/response services (the HTTP gateway).

The stage workers write inside Kafka transactions (``shared.broker``); a request handler
has no input offset to commit, so it uses an idempotent producer instead: no duplicates from
its own retries, ordered per key. Two ways to send:

* :meth:`KafkaPublisher.deliver` — produce and wait until every message is acknowledged
  (or raise :class:`PublishFailed`): for facts the caller must know are on Kafka (appeal
  outcomes, whose outbox row is marked published only then);
* :meth:`KafkaPublisher.send` — produce and return; failures are counted and logged by the
  delivery callback: for high-volume side records where a lost one is retried elsewhere
  or tolerable (audit events of synchronous verdicts).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from shared.errors import InfrastructureError

__all__ = ["EventSink", "KafkaPublisher", "OutgoingEvent", "PublishFailed"]

log = logging.getLogger("clearpath.publisher")


class PublishFailed(InfrastructureError):
    """Kafka did not acknowledge every message in time."""


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    topic: str
    key: bytes | None
    value: bytes


class EventSink(Protocol):
    """Where services put events (Kafka in production, a list in tests)."""

    def deliver(self, events: Sequence[OutgoingEvent], *, timeout_s: float = ...) -> None: ...
    def send(self, events: Sequence[OutgoingEvent]) -> None: ...
    def close(self) -> None: ...


class KafkaPublisher:
    """:class:`EventSink` over one idempotent confluent-kafka producer (thread-safe)."""

    def __init__(
        self,
        *,
        base_config: dict[str, Any],
        on_failure: Callable[[str], None] | None = None,
        client_id: str = "clearpath-gateway",
    ) -> None:
        self._producer = Producer(
            {
                **base_config,
                "client.id": client_id,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "delivery.timeout.ms": 30_000,
            }
        )
        self._on_failure = on_failure or (lambda _topic: None)
        self._stop = threading.Event()
        # Serves delivery callbacks of fire-and-forget sends while no deliver() polls.
        self._poller = threading.Thread(target=self._poll_forever, daemon=True)
        self._poller.start()

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.2)

    def _produce(
        self, event: OutgoingEvent, callback: Callable[[KafkaError | None, Message], None]
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    event.topic, value=event.value, key=event.key, on_delivery=callback
                )
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise PublishFailed(f"cannot produce to {event.topic}: {exc}") from exc

    def send(self, events: Sequence[OutgoingEvent]) -> None:
        def done(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                topic = message.topic() or "?"
                log.error("event to %s not delivered: %s", topic, error)
                self._on_failure(topic)

        for event in events:
            self._produce(event, done)

    def deliver(self, events: Sequence[OutgoingEvent], *, timeout_s: float = 5.0) -> None:
        if not events:
            return
        pending = threading.Semaphore(0)
        errors: list[str] = []

        def done(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                errors.append(f"{message.topic()}: {error}")
            pending.release()

        for event in events:
            self._produce(event, done)
        # The poller thread serves the delivery callbacks; wait for one per event.
        deadline = time.monotonic() + timeout_s
        acknowledged = 0
        for _ in events:
            if not pending.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break
            acknowledged += 1
        if errors or acknowledged < len(events):
            detail = "; ".join(errors) or f"{len(events) - acknowledged} not acknowledged in time"
            raise PublishFailed(f"events not delivered: {detail}")

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._poller.join(timeout=2.0)
        remaining = self._producer.flush(timeout_s)
        if remaining:
            log.error("%d events still queued when the publisher closed", remaining)
        self._producer.close()  # stop librdkafka's threads now, not at garbage collection

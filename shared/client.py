"""The platform side of the wire: produce requests, read verdicts (demo, benchmarks, tests)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from shared.schemas import ModerationRequest, Verdict, decode, encode, message_key

__all__ = ["RequestProducer", "VerdictReader"]


class RequestProducer:
    """An idempotent producer of moderation requests, keyed by conversation or request."""

    def __init__(self, *, base_config: dict[str, Any], topic: str) -> None:
        self._topic = topic
        self._producer = Producer(
            {**base_config, "enable.idempotence": True, "linger.ms": 5, "compression.type": "lz4"}
        )

    def send(self, request: ModerationRequest) -> None:
        self.send_raw(encode(request), key=message_key(request))

    def send_raw(self, value: bytes, *, key: bytes | None = None) -> None:
        while True:
            try:
                self._producer.produce(self._topic, value=value, key=key)
                self._producer.poll(0)
                return
            except BufferError:
                self._producer.poll(0.05)

    def flush(self, timeout_s: float = 30.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise TimeoutError(f"{remaining} requests not delivered within {timeout_s}s")


class VerdictReader:
    """Reads committed records of a topic from its current end (or its beginning)."""

    def __init__(
        self, *, base_config: dict[str, Any], topic: str, from_beginning: bool = False
    ) -> None:
        self._consumer = Consumer(
            {
                **base_config,
                "group.id": "clearpath-reader",  # never commits: assignment is manual
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
        metadata = self._consumer.list_topics(topic, timeout=30)
        partitions = metadata.topics[topic].partitions
        assignment = []
        for p in partitions:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            # Concrete offsets (not OFFSET_END): every record produced from now on is seen.
            assignment.append(TopicPartition(topic, p, low if from_beginning else high))
        self._consumer.assign(assignment)

    def poll_raw(self, timeout_s: float = 0.5) -> Iterator[tuple[bytes | None, bytes | None]]:
        for message in self._consumer.consume(500, timeout_s):
            if message.error() is None:
                yield message.key(), message.value()

    def poll(self, timeout_s: float = 0.5) -> Iterable[Verdict]:
        return [decode(value, Verdict) for _, value in self.poll_raw(timeout_s)]

    def close(self) -> None:
        self._consumer.close()

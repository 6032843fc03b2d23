"""The naive baseline: one process, one message at a time, synchronous everything.

What people write by hand: poll one request, run the same detectors, policy and response on
it alone (:meth:`Pipeline.check`), produce its verdict and wait for the delivery, commit the
consumer offset synchronously, repeat. At-least-once, no transactions, no batching.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, Producer

from shared.bench.mix import MixItem
from shared.bench.result import PhaseResult
from shared.clock import utcnow
from shared.pipeline import Pipeline
from shared.schemas import ModerationRequest, decode, encode, message_key

__all__ = ["run_naive"]


def _preload(base_config: dict[str, Any], topic: str, items: Sequence[MixItem]) -> None:
    producer = Producer({**base_config, "linger.ms": 5})
    for item in items:
        request = item.request.model_copy(update={"submitted_at": utcnow()})
        while True:
            try:
                producer.produce(topic, value=encode(request), key=message_key(request))
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(30):
        raise TimeoutError("the naive baseline's input was not delivered")


def run_naive(
    *,
    pipeline: Pipeline,
    base_config: dict[str, Any],
    input_topic: str,
    output_topic: str,
    items: Sequence[MixItem],
    timeout_s: float = 300.0,
) -> PhaseResult:
    """Preload ``items`` into ``input_topic``, then time the naive loop over all of them."""
    _preload(base_config, input_topic, items)
    consumer = Consumer(
        {
            **base_config,
            "group.id": f"clearpath-bench-naive-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({**base_config, "linger.ms": 0})
    consumer.subscribe([input_topic])
    done = 0
    started: float | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while done < len(items) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            if started is None:
                started = time.perf_counter()
            request = decode(message.value(), ModerationRequest)
            verdict = pipeline.check(request, clock=utcnow)
            producer.produce(output_topic, value=encode(verdict), key=message_key(request))
            producer.flush(30)  # wait for the delivery before committing: at-least-once
            consumer.commit(message=message, asynchronous=False)
            done += 1
        seconds = time.perf_counter() - started if started is not None else 0.0
    finally:
        consumer.close()
    return PhaseResult(
        name="naive",
        messages=done,
        msgs_per_s=done / seconds if seconds > 0 else 0.0,
        seconds=seconds,
        notes={"sent": len(items), "missing": len(items) - done},
    )

"""The measured phases that go through Kafka: closed loop, warm cache, open loop; the bare model.

Throughput of a Kafka phase comes from the verdicts themselves (``decided_at`` of the first
and last verdict), latency from ``timings_ms.total`` (``decided_at - submitted_at``), so the
reader's polling cadence never enters a number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from shared.bench.mix import MixItem
from shared.bench.result import PhaseResult
from shared.bench.stats import summarize, sustained_rate
from shared.client import RequestProducer, VerdictReader
from shared.clock import utcnow
from shared.pipeline import Pipeline
from shared.schemas import Verdict

__all__ = [
    "Collected",
    "collect",
    "model_only",
    "send_closed",
    "send_open",
    "verdict_phase",
    "warm_broker",
]

Progress = Callable[[str], None]


@dataclass
class Collected:
    """Verdicts of one phase by request id; ids answered more than once."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    #: When each verdict reached the reader (seconds since the epoch, within ``poll_s``).
    arrived: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    missing: int = 0


def collect(
    reader: VerdictReader,
    expected: set[str],
    *,
    timeout_s: float,
    settle_s: float = 0.5,
    poll_s: float = 0.2,
    stamp: bool = False,
) -> Collected:
    """Read until every id in ``expected`` is answered (or ``timeout_s``), then ``settle_s``.

    ``stamp``: record when each verdict arrived, for a phase whose sender runs beside this
    reader. Stamps are taken after each poll, so they are late by up to ``poll_s`` (the
    reader returns early only for a full batch): use a short ``poll_s`` with it.
    """
    out = Collected()
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    while time.monotonic() < (settle_until or deadline):
        verdicts = reader.poll(poll_s)
        now = time.time()
        for verdict in verdicts:
            if verdict.request_id not in expected:
                continue
            if verdict.request_id in out.verdicts:
                out.duplicates += 1
            else:
                out.verdicts[verdict.request_id] = verdict
                if stamp:
                    out.arrived[verdict.request_id] = now
        if settle_until is None and len(out.verdicts) == len(expected):
            settle_until = time.monotonic() + settle_s
    out.missing = len(expected) - len(out.verdicts)
    return out


def send_closed(producer: RequestProducer, items: Sequence[MixItem]) -> float:
    """Send everything as fast as possible, each stamped when sent; seconds it took."""
    started = time.perf_counter()
    for item in items:
        producer.send(item.request.model_copy(update={"submitted_at": utcnow()}))
    producer.flush()
    return time.perf_counter() - started


def send_open(producer: RequestProducer, items: Sequence[MixItem], *, rate: float) -> float:
    """Send at ``rate`` msgs/s on a fixed schedule; the lag behind it at the end, in seconds.

    ``submitted_at`` is the *scheduled* time, so a sender that falls behind shows up in the
    latencies instead of hiding them (no coordinated omission).
    """
    start_wall, start = utcnow(), time.perf_counter()
    for i, item in enumerate(items):
        due = i / rate
        wait = due - (time.perf_counter() - start)
        if wait > 0:
            time.sleep(wait)
        scheduled = start_wall + timedelta(seconds=due)
        producer.send(item.request.model_copy(update={"submitted_at": scheduled}))
    producer.flush()
    return max(0.0, (time.perf_counter() - start) - len(items) / rate)


def verdict_phase(
    name: str, collected: Collected, *, sent: int, notes: dict[str, object] | None = None
) -> PhaseResult:
    """A Kafka phase's numbers from its verdicts."""
    verdicts = list(collected.verdicts.values())
    decided = [v.decided_at.timestamp() for v in verdicts]
    submitted = [v.decided_at.timestamp() - v.timings_ms.get("total", 0.0) / 1000 for v in verdicts]
    span = (max(decided) - min(submitted)) if verdicts else 0.0
    # decided_at is stamped in the response handler, before its transaction commits; what a
    # client reading verdicts sees also includes that commit and the read_committed fetch.
    visible = [
        (collected.arrived[v.request_id] - at) * 1000
        for v, at in zip(verdicts, submitted, strict=True)
        if v.request_id in collected.arrived
    ]
    seen = summarize(visible) if visible else None
    return PhaseResult(
        name=name,
        messages=len(verdicts),
        msgs_per_s=sustained_rate(decided),
        seconds=span,
        latency=summarize([v.timings_ms.get("total", 0.0) for v in verdicts]),
        notes={
            "sent": sent,
            "missing": collected.missing,
            "duplicates": collected.duplicates,
            "cache_hits": sum(v.cache_hit for v in verdicts),
            "overall_msgs_per_s": round(len(verdicts) / span, 1) if span > 0 else 0.0,
            **({"visible_p50_ms": seen.p50_ms, "visible_p99_ms": seen.p99_ms} if seen else {}),
            **(notes or {}),
        },
    )


def model_only(pipeline: Pipeline, items: Sequence[MixItem], *, batch: int) -> PhaseResult:
    """``Pipeline.detect`` over ``items`` in batches of ``batch``, in this process."""
    requests = [item.request for item in items]
    pipeline.detect([r.model_copy(update={"text": f"warm-up {r.text}"}) for r in requests[:8]])
    started = time.perf_counter()
    for offset in range(0, len(requests), batch):
        pipeline.detect(requests[offset : offset + batch])
    seconds = time.perf_counter() - started
    return PhaseResult(
        name="model_only",
        messages=len(requests),
        msgs_per_s=len(requests) / seconds if seconds > 0 else 0.0,
        seconds=seconds,
        notes={"batch": batch, "model_version": pipeline.model_version},
    )


def warm_broker(base_config: dict[str, Any], topic: str, *, seconds: float) -> int:
    """Transactions as fast as they go on ``topic`` for ``seconds``; returns how many.

    A freshly started broker commits a transaction several times slower than a warm one
    until its JIT has compiled the transaction paths (measured: ~10 vs ~60 transactions/s on
    2 cores in the first minutes), and every phase after this one pays transactions: the
    naive loop's commits and each stage's batches. Each round is what a stage does per
    batch: begin, produce a few records, add consumer offsets, commit.
    """
    if seconds <= 0:
        return 0
    producer = Producer({**base_config, "transactional.id": f"{topic}-warmup", "linger.ms": 5})
    consumer = Consumer({**base_config, "group.id": f"{topic}-warmup", "enable.auto.commit": False})
    try:
        producer.init_transactions(30)
        meta = consumer.consumer_group_metadata()
        rounds, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            producer.begin_transaction()
            for i in range(8):
                producer.produce(topic, key=str(i).encode(), value=b"warm-up")
            offsets = [TopicPartition(topic, 0, rounds + 1)]
            producer.send_offsets_to_transaction(offsets, meta, 30)
            producer.commit_transaction(30)
            rounds += 1
        return rounds
    finally:
        consumer.close()
        producer.flush(5)

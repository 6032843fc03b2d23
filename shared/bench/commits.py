"""Pipelined against inline commits, and the transactional producer's retry backoff.

``python -m shared.bench.commits [--bootstrap HOST:PORT] --records 3000 --batch 16
--handler-ms 10 --rounds 2 [--backoff-ms 100,10]`` runs :class:`~shared.broker.TransactionalLoop`
over a backlog on a real broker, once with ``pipelined_commits`` and once without, for each
retry backoff, alternating for ``--rounds``. Back-to-back transactions are where the backoff
shows: the next batch's ``AddOffsetsToTxn`` often reaches the coordinator while the previous
transaction's markers are still being written, is answered ``CONCURRENT_TRANSACTIONS`` and
waits one backoff (librdkafka's default: 100 ms) before its retry.
The handler *waits* ``--handler-ms`` per batch instead of computing, as a stage whose model
runs on a GPU (or a remote service) does: the numbers then show the overlap itself, not how
the broker and a CPU-bound classifier share a small machine's cores (for that, compare
``clearpath bench e2e`` runs with ``CLEARPATH_WORKER__PIPELINED_COMMITS=false``). Without
``--bootstrap`` it uses the local stack's Kafka (started, and stopped after, if need be).

A development tool for ``shared/broker.py``, like :mod:`shared.bench.hops`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, Producer

from shared import kafka_admin
from shared.bench.phases import warm_broker
from shared.bench.stats import percentile
from shared.broker import Incoming, Outgoing, TransactionalLoop, client_config
from shared.settings import KafkaSettings

__all__ = ["main", "run_once"]


def run_once(
    bootstrap: str,
    *,
    pipelined: bool,
    records: int,
    batch: int,
    handler_ms: float,
    retry_backoff_ms: int = 10,
) -> dict[str, Any]:
    """One loop over a fresh backlog of ``records``; throughput and batch cycle."""
    run = uuid.uuid4().hex[:8]
    source, sink = f"bench-commits-{run}-in", f"bench-commits-{run}-out"
    kafka_admin.ensure_topics(
        bootstrap, [source, sink], partitions=3, replication_factor=1, retention_ms=600_000
    )
    base = client_config(KafkaSettings(), bootstrap)
    try:
        producer = Producer({**base, "linger.ms": 5})
        for i in range(records):
            producer.produce(source, key=str(i).encode(), value=b"x" * 200)
        producer.flush(30)
        done = threading.Event()
        committed = [0]
        first_handled: list[float] = []
        commit_times: list[float] = []

        def handler(items: Sequence[Incoming]) -> list[Outgoing]:
            if not first_handled:
                first_handled.append(time.perf_counter())
            time.sleep(handler_ms / 1000)
            return [Outgoing(sink, item.value or b"", item.key) for item in items]

        def observed(size: int, _handled_s: float) -> None:
            committed[0] += size
            commit_times.append(time.perf_counter())
            if committed[0] >= records:
                done.set()

        loop = TransactionalLoop(
            base_config=base,
            input_topic=source,
            group_id=f"bench-commits-{run}",
            transactional_id=f"bench-commits-{run}.0",
            handler=handler,
            batch_max=batch,
            batch_wait_ms=0,
            transaction_timeout_ms=30_000,
            observer=observed,
            pipelined_commits=pipelined,
            retry_backoff_ms=retry_backoff_ms,
        )
        thread = threading.Thread(target=loop.run, args=(done,), daemon=True)
        thread.start()
        finished = done.wait(300)
        thread.join(60)
        if not finished:
            raise RuntimeError(f"only {committed[0]} of {records} records committed in 300 s")
        seconds = commit_times[-1] - first_handled[0]
        batches = -(-records // batch)
        cycles = [b - a for a, b in itertools.pairwise(commit_times)]
        keys = _committed_keys(base, sink, expected=records)
        return {
            "pipelined": pipelined,
            "retry_backoff_ms": retry_backoff_ms,
            "records": records,
            "batch": batch,
            "handler_ms": handler_ms,
            "msgs_per_s": round(records / seconds, 1),
            "batch_cycle_ms": round(seconds / batches * 1000, 2),
            "batch_cycle_p99_ms": round(percentile(cycles, 99) * 1000, 2) if cycles else None,
            "delivered": len(set(keys)),
            "duplicates": len(keys) - len(set(keys)),
        }
    finally:
        kafka_admin.delete_topics(bootstrap, [source, sink])


def _committed_keys(base: dict[str, Any], topic: str, *, expected: int) -> list[bytes]:
    """Keys of every committed record on ``topic`` (read_committed, from the beginning)."""
    consumer = Consumer(
        {
            **base,
            "group.id": f"{topic}-check",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    keys: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        quiet_until = None
        while time.monotonic() < (quiet_until or deadline):
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    keys.append(message.key() or b"")
            if quiet_until is None and len(keys) >= expected:
                quiet_until = time.monotonic() + 1.0  # a duplicate would show up by now
        return keys
    finally:
        consumer.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="Kafka. Default: the local stack's")
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--handler-ms", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--backoff-ms",
        default="10",
        help="Comma-separated retry backoffs of the transactional producer to compare",
    )
    parser.add_argument("--warmup-seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    stack, started, bootstrap = None, False, args.bootstrap
    if bootstrap is None:
        from shared.settings import Settings
        from shared.stack import LocalStack

        stack = LocalStack(Settings())
        status = stack.status()
        started = not (status.kafka.running and status.redis.running)
        bootstrap = stack.up(services=("kafka", "redis")).kafka_bootstrap
    try:
        # Unmeasured: a freshly started broker commits slowly until its JIT has warmed up.
        warmup = f"bench-commits-warmup-{uuid.uuid4().hex[:8]}"
        kafka_admin.ensure_topics(
            bootstrap, [warmup], partitions=1, replication_factor=1, retention_ms=600_000
        )
        try:
            warm_broker(client_config(KafkaSettings(), bootstrap), warmup,
                        seconds=args.warmup_seconds)  # fmt: skip
        finally:
            kafka_admin.delete_topics(bootstrap, [warmup])
        shape = {"records": args.records, "batch": args.batch, "handler_ms": args.handler_ms}
        backoffs = [int(b) for b in args.backoff_ms.split(",")]
        rows = [
            run_once(bootstrap, pipelined=mode, retry_backoff_ms=backoff, **shape)
            for _ in range(args.rounds)
            for backoff in backoffs
            for mode in (False, True)
        ]
    finally:
        if stack is not None and started:
            stack.down(services=("kafka", "redis"))
    summary = {"rows": rows, **_ratios(rows, backoffs)}
    if args.json:
        print(json.dumps(summary))
    else:
        for r in rows:
            mode = "pipelined" if r["pipelined"] else "inline   "
            print(
                f"{mode} backoff {r['retry_backoff_ms']:4d} ms {r['msgs_per_s']:8.1f} msgs/s"
                f"  batch cycle {r['batch_cycle_ms']:6.2f} ms (p99 {r['batch_cycle_p99_ms']} ms)"
            )
        for name, ratio in summary.items():
            if name != "rows":
                print(f"{name} (medians): {ratio}")
    return 0


def _ratios(rows: Sequence[dict[str, Any]], backoffs: Sequence[int]) -> dict[str, float]:
    """Median throughput ratios: pipelined / inline at the last backoff; each other backoff's
    throughput against the last one's, per mode."""

    def median(pipelined: bool, backoff: int) -> float:
        return statistics.median(
            float(r["msgs_per_s"])
            for r in rows
            if r["pipelined"] is pipelined and r["retry_backoff_ms"] == backoff
        )

    last = backoffs[-1]
    ratios = {"pipelined_over_inline": round(median(True, last) / median(False, last), 2)}
    for backoff in backoffs[:-1]:
        for pipelined, mode in ((False, "inline"), (True, "pipelined")):
            ratio = median(pipelined, last) / median(pipelined, backoff)
            ratios[f"{mode}_backoff_{last}_over_{backoff}"] = round(ratio, 2)
    return ratios


if __name__ == "__main__":
    sys.exit(main())

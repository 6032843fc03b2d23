"""Where end-to-end latency goes: an open-loop run broken down per hop.

``python -m shared.bench.hops [--bootstrap HOST:PORT --redis URL] --rates 5,20,50`` (without
endpoints: the local stack's Kafka and Redis, started if need be) starts the
three workers on namespaced topics and, for each rate, sends fresh messages on a fixed
schedule while one probe consumer (``read_committed``, short fetch wait) watches the
detections, decisions and verdicts topics. Per message it knows:

* ``S``: the scheduled submit time (``submitted_at``; a late sender cannot hide latency);
* ``D``/``P``/``V``: the broker timestamp (CreateTime: when the stage called ``produce``,
  i.e. right after its handler) of the record on detections / decisions / verdicts;
* ``Dv``/``Pv``/``Vv``: when that record became visible to a committed reader (the probe);
* the stages' own handler times (``timings_ms``).

Hops (ms, per message): ``detect.wait = D - S - handler`` (fetch + batch wait; the requests
are not transactional), ``detect.commit = Dv - D`` (send offsets + EndTxn + markers + LSO
advance + the probe's fetch), ``policy.wait = P - Dv - handler``, and so on;
``end_to_end = Vv - S`` is what a client reading verdicts sees (``timings_ms.total`` stops at
``decided_at``, before the response stage's commit).

A development tool for tuning ``shared/broker.py``; results are noisy on a shared machine,
so compare configurations back to back.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from shared import kafka_admin
from shared.bench.mix import make_mix
from shared.bench.stats import percentile
from shared.broker import client_config
from shared.client import RequestProducer
from shared.clock import utcnow
from shared.launch import STAGES, start_worker, stop_workers, wait_ready
from shared.settings import KafkaSettings
from shared.topics import TopicSet

__all__ = ["HopRecord", "breakdown", "main", "run_rates"]


@dataclass
class HopRecord:
    """What the probe saw of one request (seconds since the epoch; None: not seen)."""

    submitted: float
    handler_ms: dict[str, float] = field(default_factory=dict)
    produced: dict[str, float] = field(default_factory=dict)  # topic kind -> CreateTime
    visible: dict[str, float] = field(default_factory=dict)  # topic kind -> probe arrival


_KINDS = ("detections", "decisions", "verdicts")
_WARMUP_RATE = 20.0


def breakdown(records: Sequence[HopRecord]) -> dict[str, dict[str, float]]:
    """p50 / p99 / mean (ms) of every hop over the requests seen on every topic."""
    hops: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        hops.setdefault(name, []).append(value * 1000)

    for r in records:
        if len(r.visible) < len(_KINDS):
            continue
        det_ms = (r.handler_ms.get("cache", 0.0) + r.handler_ms.get("detection", 0.0)) / 1000
        pol_ms = r.handler_ms.get("policy", 0.0) / 1000
        resp_ms = r.handler_ms.get("response", 0.0) / 1000
        d, p, v = (r.produced[k] for k in _KINDS)
        dv, pv, vv = (r.visible[k] for k in _KINDS)
        add("detect.wait", d - r.submitted - det_ms)
        add("detect.handler", det_ms)
        add("detect.commit", dv - d)
        add("policy.wait", p - dv - pol_ms)
        add("policy.handler", pol_ms)
        add("policy.commit", pv - p)
        add("response.wait", v - pv - resp_ms)
        add("response.handler", resp_ms)
        add("response.commit", vv - v)
        add("decided (timings.total)", v - r.submitted)
        add("end_to_end", vv - r.submitted)
    return {
        name: {
            "p50": round(percentile(values, 50), 1),
            "p99": round(percentile(values, 99), 1),
            "mean": round(statistics.fmean(values), 1),
        }
        for name, values in hops.items()
    }


class _Probe:
    """One read_committed consumer on the three output topics, stamping arrivals."""

    def __init__(self, base: dict[str, Any], topics: TopicSet) -> None:
        self.records: dict[str, HopRecord] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._kind = {topics.detections: "detections", topics.decisions: "decisions"}
        self._kind[topics.verdicts] = "verdicts"
        self._consumer = Consumer(
            {
                **base,
                "group.id": f"clearpath-probe-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 5,
            }
        )
        assignment = []
        for topic in self._kind:
            meta = self._consumer.list_topics(topic, timeout=30).topics[topic]
            for p in meta.partitions:
                _low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=30
                )
                assignment.append(TopicPartition(topic, p, high))
        self._consumer.assign(assignment)
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def expect(self, request_id: str, submitted: float) -> None:
        with self._lock:
            self.records[request_id] = HopRecord(submitted=submitted)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            now = time.time()
            kind = self._kind[message.topic() or ""]
            body = json.loads(message.value() or b"{}")
            request_id = body["request_id"] if kind == "verdicts" else body["request"]["request_id"]
            with self._lock:
                record = self.records.get(request_id)
                if record is None:
                    continue
                record.visible.setdefault(kind, now)
                record.produced.setdefault(kind, message.timestamp()[1] / 1000)
                if kind == "verdicts":
                    record.handler_ms.update(body.get("timings_ms", {}))

    def complete(self, ids: Sequence[str]) -> int:
        with self._lock:
            return sum(len(self.records[i].visible) == len(_KINDS) for i in ids)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()


def run_rates(
    *,
    bootstrap: str,
    redis_url: str,
    rates: Sequence[float],
    duration_s: float,
    env: Mapping[str, str],
    log_dir: Path,
    classifier: str = "auto",
    warmup: int = 50,
) -> dict[str, dict[str, dict[str, float]]]:
    """Start the workers with ``env`` on top, then one open-loop run per rate."""
    run_id = uuid.uuid4().hex[:8]
    suffix = f"hops{run_id}"
    topics = TopicSet.default().namespaced(suffix)
    kafka_admin.ensure_topics(
        bootstrap, topics.all(), partitions=3, replication_factor=1, retention_ms=3_600_000
    )
    base = client_config(KafkaSettings(), bootstrap)
    worker_env = {
        "CLEARPATH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CLEARPATH_REDIS__URL": redis_url,
        "CLEARPATH_WORKER__TOPIC_SUFFIX": suffix,
        "CLEARPATH_DETECTION__CLASSIFIER": classifier,
        **env,
    }
    workers = [start_worker(stage, env=worker_env, log_dir=log_dir) for stage in STAGES]
    producer = RequestProducer(base_config=base, topic=topics.requests)
    probe: _Probe | None = None
    results: dict[str, dict[str, dict[str, float]]] = {}
    try:
        wait_ready(workers)
        probe = _Probe(base, topics)
        probe.start()
        for index, rate in enumerate([rates[0], *rates]):
            if index == 0:
                rate = _WARMUP_RATE
            count = warmup if index == 0 else max(1, round(rate * duration_s))
            items = make_mix(count, run_id=run_id, now=utcnow(), prefix=f"r{index}", seed=index)
            ids = [i.request.request_id for i in items]
            start_wall, start = utcnow(), time.perf_counter()
            for i, item in enumerate(items):
                due = i / rate
                wait = due - (time.perf_counter() - start)
                if wait > 0:
                    time.sleep(wait)
                scheduled = start_wall + timedelta(seconds=due)
                probe.expect(ids[i], scheduled.timestamp())
                producer.send(item.request.model_copy(update={"submitted_at": scheduled}))
            producer.flush()
            deadline = time.monotonic() + 120
            while probe.complete(ids) < len(ids) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # the pipeline is idle again before the next rate
            if index == 0:
                continue  # warm-up: model sessions, connections, coordinators
            rows = breakdown([probe.records[i] for i in ids])
            rows["_"] = {"rate": rate, "sent": len(ids), "seen": probe.complete(ids)}
            results[f"{rate:g}"] = rows
    finally:
        if probe is not None:
            probe.close()
        alive = {w.stage: w.alive() for w in workers}
        stop_workers(workers)
        kafka_admin.delete_topics(bootstrap, topics.all())
    if not all(alive.values()):
        raise RuntimeError(f"a worker died: {alive}; logs in {log_dir}")
    return results


def _table(results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    lines = []
    for rate, rows in results.items():
        meta = rows["_"]
        lines.append(f"rate {rate} msgs/s: sent {meta['sent']:g}, seen {meta['seen']:g}")
        lines.append(f"  {'hop':26} {'p50':>8} {'p99':>8} {'mean':>8}")
        for name, row in rows.items():
            if name != "_":
                lines.append(f"  {name:26} {row['p50']:8.1f} {row['p99']:8.1f} {row['mean']:8.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="Kafka; with --redis. Default: the local stack's")
    parser.add_argument("--redis", help="Redis URL; with --bootstrap")
    parser.add_argument("--rates", default="5,20,50")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--classifier", default="auto")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the workers")
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp/clearpath-hops"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if (args.bootstrap is None) != (args.redis is None):
        parser.error("--bootstrap and --redis go together")
    env = dict(item.split("=", 1) for item in args.env)
    stack = None
    bootstrap, redis_url = args.bootstrap, args.redis
    if bootstrap is None:
        # What the benchmark uses: Kafka and Redis of the local stack, stopped again after
        # if this run started them (the stack is reused, warm, when it was running).
        from shared.settings import Settings
        from shared.stack import LocalStack

        stack = LocalStack(Settings())
        status = stack.status()
        started = not (status.kafka.running and status.redis.running)
        endpoints = stack.up(services=("kafka", "redis"))
        bootstrap, redis_url = endpoints.kafka_bootstrap, endpoints.redis_url
    try:
        results = run_rates(
            bootstrap=bootstrap,
            redis_url=redis_url,
            rates=[float(r) for r in args.rates.split(",")],
            duration_s=args.duration,
            env=env,
            log_dir=args.log_dir,
            classifier=args.classifier,
        )
    finally:
        if stack is not None and started:
            stack.down(services=("kafka", "redis"))
    print(json.dumps(results) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

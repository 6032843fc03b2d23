"""A whole pipeline on real Kafka for e2e tests: namespaced topics, worker processes, a reader."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shared import kafka_admin
from shared.broker import client_config
from shared.client import RequestProducer, VerdictReader
from shared.clock import utcnow
from shared.launch import (
    TOPOLOGIES,
    WorkerProcess,
    register_targets,
    start_worker,
    stop_workers,
    unregister_targets,
    wait_ready,
)
from shared.schemas import DeadLetter, ModerationRequest, Verdict, decode
from shared.settings import KafkaSettings
from shared.stack.models import Endpoints
from shared.topics import TopicSet
from tests.support.factories import text_tag

__all__ = ["RunningPipeline", "make_requests", "running_pipeline"]


@dataclass
class RunningPipeline:
    endpoints: Endpoints
    topics: TopicSet
    env: dict[str, str]
    log_dir: Path
    workers: dict[str, WorkerProcess]
    producer: RequestProducer

    @property
    def state_dir(self) -> Path:
        """The workers' state directory; ``prometheus/targets.json`` in it lists them."""
        return Path(self.env["CLEARPATH_STACK__STATE_DIR"])

    def base_config(self) -> dict[str, str]:
        return client_config(KafkaSettings(), self.endpoints.kafka_bootstrap)

    def reader(self, topic: str | None = None) -> VerdictReader:
        return VerdictReader(
            base_config=self.base_config(), topic=topic or self.topics.verdicts, from_beginning=True
        )

    def restart(self, stage: str) -> None:
        """Start ``stage`` again (same instance id: it fences its killed predecessor)."""
        self.workers[stage] = start_worker(stage, env=self.env, log_dir=self.log_dir)
        wait_ready([self.workers[stage]])
        register_targets(self.state_dir, [self.workers[stage]])

    def collect(
        self, expected: set[str], *, timeout_s: float = 120, settle_s: float = 3.0
    ) -> list[Verdict]:
        """Every verdict until all ``expected`` request ids are answered, then ``settle_s`` more
        (so duplicates would show)."""
        reader = self.reader()
        seen: list[Verdict] = []
        answered: set[str] = set()
        deadline = time.monotonic() + timeout_s
        try:
            while not expected <= answered and time.monotonic() < deadline:
                for verdict in reader.poll(0.5):
                    seen.append(verdict)
                    answered.add(verdict.request_id)
            settle = time.monotonic() + settle_s
            while time.monotonic() < settle:
                seen.extend(reader.poll(0.5))
        finally:
            reader.close()
        return seen

    def dead_letters(self, *, count: int, timeout_s: float = 60) -> list[DeadLetter]:
        reader = self.reader(self.topics.deadletter)
        letters: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(letters) < count and time.monotonic() < deadline:
                letters.extend(decode(v, DeadLetter) for _, v in reader.poll_raw(0.5))
        finally:
            reader.close()
        return letters


@contextmanager
def running_pipeline(
    endpoints: Endpoints,
    tmp_path: Path,
    *,
    classifier: str = "none",
    batch_max: int = 64,
    extra_env: Mapping[str, str] | None = None,
    topology: str = "split",
) -> Iterator[RunningPipeline]:
    """Fresh topics, the topology's workers (as processes), a producer; everything removed after.

    Ready workers are listed in ``<tmp_path>/state/prometheus/targets.json`` for a
    Prometheus that discovers them there; ``extra_env`` goes on top of the workers' env.
    """
    suffix = uuid.uuid4().hex[:10]
    topics = TopicSet.default().namespaced(suffix)
    kafka_admin.ensure_topics(
        endpoints.kafka_bootstrap,
        topics.all(),
        partitions=3,
        replication_factor=1,
        retention_ms=3_600_000,
    )
    env = {
        "CLEARPATH_KAFKA__BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "CLEARPATH_KAFKA__TRANSACTION_TIMEOUT_MS": "10000",
        "CLEARPATH_REDIS__URL": endpoints.redis_url,
        "CLEARPATH_WORKER__TOPIC_SUFFIX": suffix,
        "CLEARPATH_WORKER__BATCH_MAX": str(batch_max),
        "CLEARPATH_DETECTION__CLASSIFIER": classifier,
        "CLEARPATH_STACK__STATE_DIR": str(tmp_path / "state"),
        **(extra_env or {}),
    }
    log_dir = tmp_path / "logs"
    workers = {s: start_worker(s, env=env, log_dir=log_dir) for s in TOPOLOGIES[topology]}
    producer = RequestProducer(
        base_config=client_config(KafkaSettings(), endpoints.kafka_bootstrap), topic=topics.requests
    )
    try:
        wait_ready(list(workers.values()))
        running = RunningPipeline(endpoints, topics, env, log_dir, workers, producer)
        register_targets(running.state_dir, list(workers.values()))
        yield running
    finally:
        unregister_targets(Path(env["CLEARPATH_STACK__STATE_DIR"]), list(workers.values()))
        stop_workers(list(workers.values()))
        kafka_admin.delete_topics(endpoints.kafka_bootstrap, topics.all())


def make_requests(n: int, *, conversations: int = 20, prefix: str = "r") -> list[ModerationRequest]:
    """``n`` benign-looking requests spread over ``conversations`` conversations, in order."""
    texts = (
        "How do I kill a Python process?",
        "Write a haiku about the sea.",
        "Email me at someone@example.com please",
        "Summarise the plot of Hamlet.",
    )
    now = utcnow()
    run = text_tag()  # unique texts per call: no verdict cached by an earlier test
    return [
        ModerationRequest(
            request_id=f"{prefix}-{i:06d}",
            tenant_id="e2e",
            text=f"{texts[i % len(texts)]} ({run}-{i})",
            conversation_id=f"conv-{i % conversations}",
            submitted_at=now,
        )
        for i in range(n)
    ]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()

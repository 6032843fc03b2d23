"""The audit sink process on real Kafka and PostgreSQL: each event once, across a crash."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from shared import kafka_admin
from shared.audit.verify import verify_topic
from shared.broker import client_config
from shared.client import VerdictReader
from shared.schemas import DeadLetter, decode
from shared.settings import KafkaSettings
from shared.stack.models import Endpoints
from shared.topics import TopicSet
from tests.support.audit import (
    audit_document,
    audit_rows,
    drop_chains,
    running_sink,
    wait_for_rows,
)

pytestmark = pytest.mark.integration


def test_the_sink_stores_every_event_once_across_a_crash_and_dead_letters_poison(
    stack_endpoints: Endpoints, tmp_path: Path
) -> None:
    url = stack_endpoints.postgres_url
    assert url is not None
    suffix = uuid.uuid4().hex[:10]
    topics = TopicSet.default().namespaced(suffix)
    bootstrap = stack_endpoints.kafka_bootstrap
    kafka_admin.ensure_topics(
        bootstrap,
        [topics.audit, topics.deadletter],
        partitions=3,
        replication_factor=1,
        retention_ms=3_600_000,
    )
    env = {
        "CLEARPATH_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "CLEARPATH_KAFKA__TRANSACTION_TIMEOUT_MS": "10000",
        "CLEARPATH_POSTGRES__URL": url,
        "CLEARPATH_WORKER__TOPIC_SUFFIX": suffix,
        "CLEARPATH_WORKER__BATCH_MAX": "16",
        "CLEARPATH_STACK__STATE_DIR": str(tmp_path / "state"),
    }
    base = client_config(KafkaSettings(), bootstrap)
    producer = Producer({**base, "enable.idempotence": True})
    documents = [audit_document(i) for i in range(400)]
    try:
        for document in documents[:200]:
            producer.produce(
                topics.audit, json.dumps(document).encode(), key=document["request_id"]
            )
        producer.produce(topics.audit, b"{not an audit event", key=b"poison")
        for document in documents[200:]:
            producer.produce(
                topics.audit, json.dumps(document).encode(), key=document["request_id"]
            )
        assert producer.flush(30) == 0

        with running_sink(env, tmp_path / "logs") as sink:
            wait_for_rows(url, topics.audit, 60)
            sink.kill()  # mid-stream: a batch may be stored and its offsets not committed
        with running_sink(env, tmp_path / "logs"):
            stored = wait_for_rows(url, topics.audit, len(documents))
            reader = VerdictReader(base_config=base, topic=topics.deadletter, from_beginning=True)
            letters: list[DeadLetter] = []
            deadline = time.monotonic() + 60
            try:
                while not letters and time.monotonic() < deadline:
                    letters.extend(decode(v, DeadLetter) for _, v in reader.poll_raw(0.5))
            finally:
                reader.close()

        assert stored == len(documents)
        rows = audit_rows(url, topics.audit)
        assert sorted(r["event_id"] for r in rows) == sorted(d["event_id"] for d in documents)
        for partition in {r["kafka_partition"] for r in rows}:
            chain = [r for r in rows if r["kafka_partition"] == partition]
            assert [r["seq"] for r in chain] == list(range(1, len(chain) + 1))
        with psycopg.connect(url) as conn:
            reports = verify_topic(conn, topics.audit)
        assert reports and all(r.intact for r in reports)
        assert [(d.stage, d.error_type, d.source_topic) for d in letters] == [
            ("audit", "invalid_json", topics.audit)
        ]
    finally:
        kafka_admin.delete_topics(bootstrap, [topics.audit, topics.deadletter])
        drop_chains(url, topics.audit)

"""The local stack against a real Kafka (KRaft) and Redis: topics, transactions, lifecycle."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from shared import kafka_admin
from shared.db import pending
from shared.settings import KafkaSettings, RedisSettings, Settings, StackSettings
from shared.stack import Endpoints, LocalStack, process
from shared.stack.gateway import gateway_ready
from shared.stack.postgres import postgres_ready
from shared.stack.prometheus import prometheus_ready
from shared.stack.redis import redis_ready
from shared.topics import ALL_TOPICS

pytestmark = pytest.mark.integration


def test_pipeline_topics_exist_with_three_partitions(stack_endpoints: Endpoints) -> None:
    admin = AdminClient({"bootstrap.servers": stack_endpoints.kafka_bootstrap})
    topics = admin.list_topics(timeout=15).topics
    for name in ALL_TOPICS:
        assert name in topics, name
        assert len(topics[name].partitions) == 3, name


def test_ensure_topics_is_idempotent(stack_endpoints: Endpoints) -> None:
    topic = f"clearpath.test.ensure.{uuid.uuid4().hex[:12]}"
    try:
        for _ in range(2):
            kafka_admin.ensure_topics(
                stack_endpoints.kafka_bootstrap,
                [topic, topic],
                partitions=2,
                replication_factor=1,
                retention_ms=3_600_000,
            )
        admin = AdminClient({"bootstrap.servers": stack_endpoints.kafka_bootstrap})
        assert len(admin.list_topics(timeout=15).topics[topic].partitions) == 2
    finally:
        kafka_admin.delete_topics(stack_endpoints.kafka_bootstrap, [topic])
    kafka_admin.delete_topics(stack_endpoints.kafka_bootstrap, [topic])  # gone: still fine


def test_transactional_round_trip_read_committed(stack_endpoints: Endpoints) -> None:
    bootstrap = stack_endpoints.kafka_bootstrap
    run = uuid.uuid4().hex[:12]
    topic = f"clearpath.test.tx.{run}"
    kafka_admin.ensure_topics(
        bootstrap, [topic], partitions=3, replication_factor=1, retention_ms=3_600_000
    )
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"test-tx-{run}"})
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-tx-{run}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        producer.init_transactions(60)
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic, key=f"conv-{i % 2}", value=f"committed-{i}")
        producer.commit_transaction(60)
        producer.begin_transaction()
        producer.produce(topic, key="conv-0", value="aborted")
        producer.flush(30)
        producer.abort_transaction(60)
        producer.begin_transaction()
        producer.produce(topic, key="conv-1", value="committed-last")
        producer.commit_transaction(60)

        consumer.subscribe([topic])
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while len(seen) < 6 and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                continue
            value = message.value()
            assert value is not None
            seen.append(value.decode())
        assert sorted(seen) == sorted([f"committed-{i}" for i in range(5)] + ["committed-last"])
        assert consumer.poll(2.0) is None  # the aborted record is never delivered
    finally:
        consumer.close()
        kafka_admin.delete_topics(bootstrap, [topic])


def test_redis_answers_ping(stack_endpoints: Endpoints) -> None:
    client = redis.Redis.from_url(stack_endpoints.redis_url)
    try:
        assert client.ping()
        key = f"clearpath:test:{uuid.uuid4().hex}"
        client.set(key, "v", ex=60)
        assert client.get(key) == b"v"
    finally:
        client.close()


def test_local_stack_lifecycle(
    tmp_path_factory: pytest.TempPathFactory, stack_endpoints: Endpoints
) -> None:
    """A second, private stack: up twice, status, down stops exactly its five pids (the
    HTTP gateway among them: it starts with the stack)."""
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("the local stack needs Java and Maven")
    state: Path = tmp_path_factory.mktemp("lifecycle-stack")
    settings = Settings(
        kafka=KafkaSettings(),
        redis=RedisSettings(),
        stack=StackSettings(state_dir=state, kafka_heap="-Xms128m -Xmx512m"),
    )
    stack = LocalStack(settings)
    try:
        first = stack.up()
        status = stack.status()
        assert status.running and status.kafka.managed and status.redis.managed
        assert status.prometheus is not None and status.prometheus.managed
        assert first.prometheus_url is not None and prometheus_ready(first.prometheus_url)
        assert status.postgres is not None and status.postgres.managed
        assert first.postgres_url is not None and postgres_ready(first.postgres_url)
        assert pending(first.postgres_url) == ()  # every migration applied
        assert status.gateway is not None and status.gateway.managed
        assert first.gateway_url is not None and gateway_ready(first.gateway_url)
        assert status.gateway_url == first.gateway_url
        pids = {
            status.kafka.pid,
            status.redis.pid,
            status.prometheus.pid,
            status.postgres.pid,
            status.gateway.pid,
        }
        assert None not in pids
        for pid in pids - {status.postgres.pid}:
            assert pid is not None and str(state) in (process.cmdline(pid) or "")
        assert status.postgres.pid is not None
        assert process.owns(status.postgres.pid, stack.postgres.marker)

        assert LocalStack(settings).up() == first  # idempotent: same endpoints, same pids
        again = stack.status()
        assert again.prometheus is not None and again.postgres is not None
        assert again.gateway is not None
        assert {
            again.kafka.pid,
            again.redis.pid,
            again.prometheus.pid,
            again.postgres.pid,
            again.gateway.pid,
        } == pids
        admin = AdminClient({"bootstrap.servers": first.kafka_bootstrap})
        assert set(ALL_TOPICS) <= set(admin.list_topics(timeout=15).topics)

        assert stack.down() == ("gateway", "kafka", "redis", "postgres", "prometheus")
        assert not any(process.is_running(pid) for pid in pids if pid is not None)
        assert not stack.status().running
        # The session's services were not touched.
        assert kafka_admin.broker_ready(stack_endpoints.kafka_bootstrap)
        assert redis_ready(stack_endpoints.redis_url)
    finally:
        stack.purge()  # the private cluster may live outside tmp (root: /var/lib/clearpath)

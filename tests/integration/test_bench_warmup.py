"""The bench's broker warm-up really commits transactions on the real broker."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, TopicPartition

from shared import kafka_admin
from shared.bench.phases import warm_broker
from shared.stack import Endpoints


def test_warm_broker_commits_transactions(stack_endpoints: Endpoints) -> None:
    bootstrap = stack_endpoints.kafka_bootstrap
    topic = f"clearpath.test.warmup.{uuid.uuid4().hex[:12]}"
    kafka_admin.ensure_topics(
        bootstrap, [topic], partitions=1, replication_factor=1, retention_ms=3_600_000
    )
    base = {"bootstrap.servers": bootstrap}
    consumer = Consumer({**base, "group.id": f"{topic}-warmup", "enable.auto.commit": False})
    try:
        assert warm_broker(base, topic, seconds=0) == 0
        rounds = warm_broker(base, topic, seconds=1.0)
        assert rounds >= 1
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert high - low >= 8 * rounds  # eight records per committed transaction (+ markers)
        (committed,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        assert committed.offset == rounds  # each transaction carried its consumer offsets
    finally:
        consumer.close()
        kafka_admin.delete_topics(bootstrap, [topic])

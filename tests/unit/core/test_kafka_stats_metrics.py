"""Broker-level series derived from librdkafka statistics."""

from __future__ import annotations

from prometheus_client import generate_latest

from shared.metrics import WorkerMetrics


def test_rtt_is_the_mean_over_real_brokers_in_seconds_and_queue_depth_is_reported() -> None:
    metrics = WorkerMetrics.create(stage="policy")
    stats = {
        "msg_cnt": 7,
        "brokers": {
            "b1": {"nodeid": 1, "rtt": {"avg": 2000}},
            "b2": {"nodeid": 2, "rtt": {"avg": 4000}},
            "GroupCoordinator": {"nodeid": -1, "rtt": {"avg": 999_000}},
        },
    }
    metrics.observe_kafka_stats("producer", stats)
    text = generate_latest(metrics.registry).decode()
    assert 'clearpath_kafka_rtt_seconds{client="producer"} 0.003' in text
    assert 'clearpath_kafka_queued_messages{client="producer"} 7.0' in text


def test_statistics_without_brokers_leave_rtt_unset() -> None:
    metrics = WorkerMetrics.create(stage="policy")
    metrics.observe_kafka_stats("consumer", {"msg_cnt": 0})
    text = generate_latest(metrics.registry).decode()
    assert 'clearpath_kafka_rtt_seconds{client="consumer"}' not in text

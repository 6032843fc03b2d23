"""Custom resources, checked structurally (their CRD schemas are not shipped offline).

KEDA ScaledObject, Strimzi KafkaTopic, Prometheus Operator ServiceMonitor and
PrometheusRule: apiVersion/kind and required fields, and every cross-reference resolves —
scale targets exist, consumer groups and topics are shared/topics.py's, maxReplicaCount is
the partition count, selectors match the Services, no Deployment has two autoscalers.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared import topics
from tests.deploy.conftest import OVERLAYS
from tests.deploy.manifests import named, of_kind, selects

Built = dict[str, list[dict[str, Any]]]

#: stage -> (consumer group, consumed topic), from the single source.
CONSUMES = {
    "detection": (topics.GROUP_DETECTION, topics.REQUESTS),
    "policy": (topics.GROUP_POLICY, topics.DETECTIONS),
    "response": (topics.GROUP_RESPONSE, topics.DECISIONS),
}
API = {
    "ScaledObject": "keda.sh/v1alpha1",
    "KafkaTopic": "kafka.strimzi.io/v1beta2",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}


def _config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (config,) = (
        c
        for c in of_kind(docs, "ConfigMap")
        if c["metadata"]["name"].startswith("clearpath-config-")
    )
    return config


def _targets(docs: list[dict[str, Any]], kind: str) -> list[str]:
    return [d["spec"]["scaleTargetRef"]["name"] for d in of_kind(docs, kind)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_deployment_has_exactly_one_autoscaler(built: Built, overlay: str) -> None:
    docs = built[overlay]
    scaled = _targets(docs, "HorizontalPodAutoscaler") + _targets(docs, "ScaledObject")
    assert sorted(scaled) == sorted(d["metadata"]["name"] for d in of_kind(docs, "Deployment"))


@pytest.mark.parametrize("overlay", ["prod", "gpu"])
def test_scaled_objects_follow_lag_on_the_right_group_and_topic(built: Built, overlay: str) -> None:
    docs = built[overlay]
    partitions = {
        t["metadata"]["name"]: t["spec"]["partitions"] for t in of_kind(docs, "KafkaTopic")
    }
    config = _config(docs)
    for stage, (group, topic) in CONSUMES.items():
        so = named(docs, "ScaledObject", f"clearpath-{stage}")
        assert so["apiVersion"] == API["ScaledObject"]
        deployment = named(docs, "Deployment", so["spec"]["scaleTargetRef"]["name"])
        assert so["metadata"]["namespace"] == deployment["metadata"]["namespace"]
        (trigger,) = so["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert (meta["consumerGroup"], meta["topic"]) == (group, topic)
        assert meta["bootstrapServers"] == config["data"]["CLEARPATH_KAFKA__BOOTSTRAP_SERVERS"]
        assert int(meta["lagThreshold"]) > 0
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"]
        assert so["spec"]["maxReplicaCount"] == partitions[topic], "partitions bound replicas"
    assert set(partitions.values()) == {int(config["data"]["CLEARPATH_KAFKA__PARTITIONS"])}


@pytest.mark.parametrize("overlay", ["dev"])
def test_hpa_fallback_is_capped_at_the_partition_count(built: Built, overlay: str) -> None:
    docs = built[overlay]
    config = _config(docs)
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["maxReplicas"] == int(config["data"]["CLEARPATH_KAFKA__PARTITIONS"])


@pytest.mark.parametrize("overlay", ["prod", "gpu"])
def test_kafka_topics_are_the_pipelines_topics(built: Built, overlay: str) -> None:
    kafka_topics = list(of_kind(built[overlay], "KafkaTopic"))
    assert sorted(t["metadata"]["name"] for t in kafka_topics) == sorted(topics.ALL_TOPICS)
    for topic in kafka_topics:
        assert topic["apiVersion"] == API["KafkaTopic"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]
        assert topic["spec"]["partitions"] >= 3
        assert topic["spec"]["replicas"] >= 1
        assert topic["spec"]["config"]["min.insync.replicas"] < topic["spec"]["replicas"]


@pytest.mark.parametrize("overlay", ["prod", "gpu"])
def test_service_monitor_scrapes_every_worker_service(built: Built, overlay: str) -> None:
    docs = built[overlay]
    (monitor,) = of_kind(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == API["ServiceMonitor"]
    services = list(of_kind(docs, "Service"))
    scraped = [s for s in services if selects(monitor["spec"]["selector"], s["metadata"]["labels"])]
    assert len(scraped) == len(services) == 3
    (endpoint,) = monitor["spec"]["endpoints"]
    for service in scraped:
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize("overlay", ["prod", "gpu"])
def test_prometheus_rule_is_well_formed(built: Built, overlay: str) -> None:
    (rule,) = of_kind(built[overlay], "PrometheusRule")
    assert rule["apiVersion"] == API["PrometheusRule"]
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert ("record" in r) != ("alert" in r) and r["expr"]


def test_dev_overlay_needs_no_operators(built: Built) -> None:
    assert not [d for d in built["dev"] if d["kind"] in API]

"""Custom resources, checked structurally (their CRD schemas are not shipped offline).

KEDA ScaledObject, Strimzi KafkaTopic, Prometheus Operator ServiceMonitor and
PrometheusRule: apiVersion/kind and required fields, and every cross-reference resolves —
scale targets exist, consumer groups and topics are shared/topics.py's, maxReplicaCount is
the partition count, selectors match the Services, no Deployment has two autoscalers (the
Kafka workers scale on lag, the gateway on CPU), the audit topic outlives the audit rows.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.cli.worker import StageChoice
from shared import topics
from tests.deploy.conftest import OVERLAYS
from tests.deploy.manifests import CONSUMERS, WORKLOADS, env_of, named, of_kind, selects

Built = dict[str, list[dict[str, Any]]]

#: workload -> (consumer group, consumed topic), from the single source.
CONSUMES = {name: w.consumes for name, w in CONSUMERS.items() if w.consumes is not None}
API = {
    "ScaledObject": "keda.sh/v1alpha1",
    "KafkaTopic": "kafka.strimzi.io/v1beta2",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}
DAY_MS = 24 * 3600 * 1000


def _config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (config,) = (
        c
        for c in of_kind(docs, "ConfigMap")
        if c["metadata"]["name"].startswith("clearpath-config-")
    )
    return config


def _targets(docs: list[dict[str, Any]], kind: str) -> list[str]:
    return [d["spec"]["scaleTargetRef"]["name"] for d in of_kind(docs, kind)]


def test_the_consumers_are_the_pipelines_groups() -> None:
    assert CONSUMES == {
        "detection": (topics.GROUP_DETECTION, topics.REQUESTS),
        "policy": (topics.GROUP_POLICY, topics.DETECTIONS),
        "response": (topics.GROUP_RESPONSE, topics.DECISIONS),
        "audit": (topics.GROUP_AUDIT, topics.AUDIT),
        "appeals": (topics.GROUP_APPEALS, topics.APPEALS),
    }


def test_every_worker_process_is_a_workload() -> None:
    """Each process `clearpath worker <name>` can run is deployed (and nothing else is) —
    except ``chained``, the one-process alternative to detection + policy + response, which
    is the detection Deployment with other args (docs/DEPLOY.md, "The chained topology")."""
    assert {choice.value for choice in StageChoice} - {"chained"} == set(WORKLOADS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_deployment_has_exactly_one_autoscaler(built: Built, overlay: str) -> None:
    docs = built[overlay]
    scaled = _targets(docs, "HorizontalPodAutoscaler") + _targets(docs, "ScaledObject")
    assert sorted(scaled) == sorted(d["metadata"]["name"] for d in of_kind(docs, "Deployment"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_workers_scale_on_lag_where_keda_is_and_the_gateway_on_cpu(
    built: Built, overlay: str
) -> None:
    docs = built[overlay]
    keda = overlay != "dev"
    consumers = {f"clearpath-{name}" for name in CONSUMERS}
    assert set(_targets(docs, "ScaledObject")) == (consumers if keda else set())
    hpas = set(_targets(docs, "HorizontalPodAutoscaler"))
    assert hpas == ({"clearpath-gateway"} if keda else consumers | {"clearpath-gateway"})
    gateway = named(docs, "HorizontalPodAutoscaler", "clearpath-gateway")
    assert gateway["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    (metric,) = gateway["spec"]["metrics"]
    assert (metric["type"], metric["resource"]["name"]) == ("Resource", "cpu")
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 80
    assert 1 <= gateway["spec"]["minReplicas"] <= gateway["spec"]["maxReplicas"]
    if overlay != "dev":
        assert gateway["spec"]["minReplicas"] >= 2, "one gateway replica is an outage"


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
    for name in CONSUMERS:
        hpa = named(docs, "HorizontalPodAutoscaler", f"clearpath-{name}")
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
def test_audit_topic_keeps_events_at_least_as_long_as_the_database(
    built: Built, overlay: str
) -> None:
    """So a damaged audit database can be rebuilt from the topic."""
    docs = built[overlay]
    topic = named(docs, "KafkaTopic", topics.AUDIT)
    days = int(
        env_of(named(docs, "Deployment", "clearpath-audit"))["CLEARPATH_AUDIT__RETENTION_DAYS"][
            "value"
        ]
    )
    assert int(topic["spec"]["config"]["retention.ms"]) >= days * DAY_MS


@pytest.mark.parametrize("overlay", ["prod", "gpu"])
def test_service_monitors_scrape_every_service_once(built: Built, overlay: str) -> None:
    docs = built[overlay]
    monitors = list(of_kind(docs, "ServiceMonitor"))
    job = _rules_job(docs)
    services = list(of_kind(docs, "Service"))
    assert {s["metadata"]["name"] for s in services} == {f"clearpath-{w}" for w in WORKLOADS}
    for service in services:
        name = service["metadata"]["labels"]["app.kubernetes.io/component"]
        ports = {p["name"] for p in service["spec"]["ports"]}
        scrapes = [
            endpoint
            for monitor in monitors
            if selects(monitor["spec"]["selector"], service["metadata"]["labels"])
            for endpoint in monitor["spec"]["endpoints"]
            if endpoint["port"] in ports
        ]
        assert len(scrapes) == 1, f"{name} is scraped {len(scrapes)} times"
        (endpoint,) = scrapes
        assert endpoint["port"] == WORKLOADS[name].port
        assert endpoint["path"] == "/metrics"
        relabel = {r["targetLabel"]: r for r in endpoint["relabelings"]}
        assert relabel["job"]["replacement"] == job, "the rules' job label"
        assert relabel["stage"]["sourceLabels"] == [
            "__meta_kubernetes_pod_label_app_kubernetes_io_component"
        ]
    for monitor in monitors:
        assert monitor["apiVersion"] == API["ServiceMonitor"]
        assert monitor["metadata"]["labels"]["release"] == "prometheus"


def _rules_job(docs: list[dict[str, Any]]) -> str:
    (rule,) = of_kind(docs, "PrometheusRule")
    jobs = {
        match
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        for match in re.findall(r'job="([^"]+)"', r["expr"])
    }
    (job,) = jobs
    return str(job)


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

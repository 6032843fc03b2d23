"""Every overlay builds, its built-in kinds pass the Kubernetes schemas, and every workload
(the three stages, the audit sink, the appeals worker, the gateway) is locked down: probes,
resources, non-root read-only containers, pod-name instance ids, exactly the Secrets it
needs, and a network reachable only where it must be."""

from __future__ import annotations

from typing import Any

import kubernetes_validate.utils as kv  # type: ignore[import-untyped]
import pytest

from services.gateway.app import MAX_BODY_BYTES
from shared.appeals.events import AppealOutcomeAuditEvent
from shared.audit.events import VerdictAuditEvent
from shared.worker import _VERDICT_STAGES
from tests.deploy.conftest import OVERLAYS
from tests.deploy.manifests import (
    SECRET_REFS,
    WORKLOADS,
    env_of,
    is_built_in,
    named,
    of_kind,
    pod_labels,
    policies_selecting,
    selects,
    worker_container,
)

K8S_VERSION = "1.33.0"
NAMES = {f"clearpath-{w}": w for w in WORKLOADS}
#: Peers a NetworkPolicy may admit, by the selectors that name them.
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}
INGRESS_CONTROLLER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
}
GATEWAY_CLIENTS = {"namespaceSelector": {"matchLabels": {"clearpath-gateway-client": "true"}}}
EGRESS_PORTS = {"kafka": 9092, "dns": 53, "redis": 6379, "postgres": 5432}

Built = dict[str, list[dict[str, Any]]]


def _deployments(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(NAMES[d["metadata"]["name"]], d) for d in of_kind(docs, "Deployment")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_built_in_kinds_match_the_kubernetes_schemas(built: Built, overlay: str) -> None:
    checked = 0
    for doc in filter(is_built_in, built[overlay]):
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
        checked += 1
    assert checked >= 4 * len(WORKLOADS) + 4  # each: Deployment, Service, SA, PDB; policies


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_its_deployment_service_account_and_pdb(
    built: Built, overlay: str
) -> None:
    docs = built[overlay]
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
        assert {d["metadata"]["name"] for d in of_kind(docs, kind)} == set(NAMES), kind
    for name, deployment in _deployments(docs):
        labels = pod_labels(deployment)
        assert labels["app.kubernetes.io/component"] == name
        assert labels["app.kubernetes.io/part-of"] == "clearpath"
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == f"clearpath-{name}"
        for kind in ("Service", "PodDisruptionBudget"):
            matching = [d for d in of_kind(docs, kind) if selects(_selector(d), labels)]
            assert [d["metadata"]["name"] for d in matching] == [f"clearpath-{name}"], kind
        pdb = named(docs, "PodDisruptionBudget", f"clearpath-{name}")
        assert pdb["spec"]["maxUnavailable"] == 1


def _selector(doc: dict[str, Any]) -> dict[str, Any]:
    selector = doc["spec"]["selector"]
    return dict(selector) if "matchLabels" in selector else {"matchLabels": selector}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workloads_run_locked_down(built: Built, overlay: str) -> None:
    for name, deployment in _deployments(built[overlay]):
        workload = WORKLOADS[name]
        pod = deployment["spec"]["template"]["spec"]
        container = worker_container(deployment)
        assert container["args"] == ["worker", name]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        resources = container["resources"]
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[part]), (name, part)
        assert _quantity(resources["requests"]["cpu"]) <= _quantity(resources["limits"]["cpu"])
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts
        assert ("/etc/clearpath/policy" in mounts) is workload.policy, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_hit_health_and_readiness_on_the_serving_port(built: Built, overlay: str) -> None:
    for name, deployment in _deployments(built[overlay]):
        workload = WORKLOADS[name]
        container = worker_container(deployment)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {workload.port: workload.port_number}, name
        expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
        expected["startupProbe"] = "/healthz"
        for probe, path in expected.items():
            assert container[probe]["httpGet"] == {"path": path, "port": workload.port}, name
        # The startup probe covers model load and migrations: two minutes at least.
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(workload.port_number)


def _quantity(cpu: str | int) -> float:
    text = str(cpu)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_reads_exactly_its_secrets_from_secrets(built: Built, overlay: str) -> None:
    for name, deployment in _deployments(built[overlay]):
        workload = WORKLOADS[name]
        env = env_of(deployment)
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in env.values()
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert set(refs) == set(workload.secrets), name
        for setting, ref in refs.items():
            assert ref == SECRET_REFS[setting], (name, setting)
        container = worker_container(deployment)
        assert not container.get("envFrom", []) or all(
            "secretRef" not in source for source in container["envFrom"]
        )
        if workload.consumes is not None:
            instance = env["CLEARPATH_WORKER__INSTANCE_ID"]["valueFrom"]["fieldRef"]
            assert instance["fieldPath"] == "metadata.name", name
        if workload.policy:
            assert env["CLEARPATH_POLICY__PATH"]["value"] == "/etc/clearpath/policy"
        else:
            assert "CLEARPATH_POLICY__PATH" not in env
    assert not list(of_kind(built[overlay], "Secret")), "Secrets are never in the repo"


def test_the_audit_hash_key_reaches_every_producer_of_audit_events() -> None:
    """The table's producers are the code's: the stages that publish verdicts (each with its
    audit event, shared/worker.py), plus the gateway (services/gateway/wiring.py). The appeals
    worker produces audit events too, but appeal outcomes carry no request hash: no key."""
    hashing = {n for n, w in WORKLOADS.items() if "CLEARPATH_AUDIT__HASH_SECRET" in w.secrets}
    # The manifests run the split topology; the chained worker is the detection Deployment
    # with other args (docs/DEPLOY.md), so it has the key wherever detection has it.
    assert hashing == {*(_VERDICT_STAGES - {"chained"}), "gateway"}
    assert "request_hash" in VerdictAuditEvent.model_fields
    assert "request_hash" not in AppealOutcomeAuditEvent.model_fields


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_listens_on_all_interfaces_behind_its_service(built: Built, overlay: str) -> None:
    docs = built[overlay]
    gateway = named(docs, "Deployment", "clearpath-gateway")
    env = env_of(gateway)
    assert env["CLEARPATH_GATEWAY__HOST"]["value"] == "0.0.0.0"  # the default is 127.0.0.1
    assert int(env["CLEARPATH_GATEWAY__PORT"]["value"]) == WORKLOADS["gateway"].port_number
    (port,) = named(docs, "Service", "clearpath-gateway")["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http", 80, "http")
    pod = gateway["spec"]["template"]["spec"]
    pre_stop = worker_container(gateway)["lifecycle"]["preStop"]["sleep"]["seconds"]
    # preStop, then uvicorn's 10 s graceful shutdown, then closing the producer and pools.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + 10 + 5
    for name, deployment in _deployments(docs):
        if name != "gateway":
            assert {p["containerPort"] for p in worker_container(deployment)["ports"]} == {9100}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_postgres_connections_fit_the_server(built: Built, overlay: str) -> None:
    """Max replicas x pool size of every PostgreSQL client stays under the default
    max_connections (100, less reserved slots and the CLI)."""
    docs = built[overlay]
    total = 0
    for name, deployment in _deployments(docs):
        env = env_of(deployment)
        assert ("CLEARPATH_POSTGRES__URL" in env) is WORKLOADS[name].postgres
        if WORKLOADS[name].postgres:
            pool = int(env["CLEARPATH_POSTGRES__POOL_MAX"]["value"])
            total += pool * _max_replicas(docs, f"clearpath-{name}")
    assert 0 < total <= 90, total


def _max_replicas(docs: list[dict[str, Any]], name: str) -> int:
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == name:
            return int(hpa["spec"]["maxReplicas"])
    for so in of_kind(docs, "ScaledObject"):
        if so["spec"]["scaleTargetRef"]["name"] == name:
            return int(so["spec"]["maxReplicaCount"])
    raise AssertionError(f"no autoscaler for {name}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_isolate_every_workload(built: Built, overlay: str) -> None:
    docs = built[overlay]
    for name, deployment in _deployments(docs):
        policies = policies_selecting(docs, deployment)
        types = {t for p in policies for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, f"{name} is not isolated both ways"
        for policy in policies:
            spec = policy["spec"]
            # No rules of a type the policy does not declare (they would be ignored).
            assert set(spec) <= {"podSelector", "policyTypes"} | {
                t.lower() for t in spec["policyTypes"]
            }
            for rule in spec.get("ingress", []):
                assert rule.get("from") and rule.get("ports"), "an ingress rule open to all"
            for rule in spec.get("egress", []):
                assert rule.get("to") and rule.get("ports"), "an egress rule open to all"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_takes_traffic_and_only_prometheus_scrapes(
    built: Built, overlay: str
) -> None:
    """Who reaches which port a workload listens on, over every policy selecting it."""
    docs = built[overlay]
    for name, deployment in _deployments(docs):
        listening = {p["containerPort"] for p in worker_container(deployment)["ports"]}
        admitted: set[tuple[str, int]] = set()
        for policy in policies_selecting(docs, deployment):
            for rule in policy["spec"].get("ingress", []):
                ports = {p["port"] for p in rule["ports"]} & listening
                for peer in rule["from"]:
                    admitted |= {(_peer_name(peer), port) for port in ports}
        if name == "gateway":
            assert admitted == {
                ("prometheus", 8080),
                ("ingress-controller", 8080),
                ("gateway-clients", 8080),
            }
        else:
            assert admitted == {("prometheus", 9100)}, name


def _peer_name(peer: dict[str, Any]) -> str:
    for label, known in (
        ("prometheus", PROMETHEUS),
        ("ingress-controller", INGRESS_CONTROLLER),
        ("gateway-clients", GATEWAY_CLIENTS),
    ):
        if peer == known:
            return label
    raise AssertionError(f"unexpected ingress peer {peer}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_egress_reaches_exactly_what_each_workload_uses(built: Built, overlay: str) -> None:
    docs = built[overlay]
    for name, deployment in _deployments(docs):
        workload = WORKLOADS[name]
        ports = {
            p["port"]
            for policy in policies_selecting(docs, deployment)
            for rule in policy["spec"].get("egress", [])
            for p in rule["ports"]
        }
        expected = {EGRESS_PORTS["kafka"], EGRESS_PORTS["dns"]}
        expected |= {EGRESS_PORTS["redis"]} if workload.redis else set()
        expected |= {EGRESS_PORTS["postgres"]} if workload.postgres else set()
        assert ports == expected, name
        env = env_of(deployment)
        assert ("CLEARPATH_POSTGRES__URL" in env) is workload.postgres


@pytest.mark.parametrize("overlay", ["prod", "gpu"])
def test_ingress_exposes_only_the_api(built: Built, overlay: str) -> None:
    docs = built[overlay]
    (ingress,) = of_kind(docs, "Ingress")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"  # the controller the NetworkPolicy admits
    assert spec["tls"] and all(t["secretName"] for t in spec["tls"])
    paths = []
    for rule in spec["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend == {"name": "clearpath-gateway", "port": {"name": "http"}}
            paths.append((path["path"], path["pathType"]))
    for path, path_type in paths:
        assert path != "/" and path.rstrip("/") not in {"/metrics", "/healthz", "/readyz"}
        assert path.startswith("/v1") or path_type == "Exact", path
    assert ("/v1", "Prefix") in paths
    size = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert size.endswith("m") and int(size[:-1]) * 1024 * 1024 >= MAX_BODY_BYTES


def test_dev_has_no_ingress(built: Built) -> None:
    assert not list(of_kind(built["dev"], "Ingress"))


def test_gpu_overlay_schedules_detection_on_a_gpu(built: Built) -> None:
    detection = named(built["gpu"], "Deployment", "clearpath-detection")
    pod = detection["spec"]["template"]["spec"]
    container = worker_container(detection)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"].startswith("clearpath/worker-cuda:")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CLEARPATH_MODEL__PROVIDER"] == "cuda"
    assert pod["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    for other in of_kind(built["gpu"], "Deployment"):
        if other is not detection:
            assert "nvidia.com/gpu" not in worker_container(other)["resources"]["limits"]
            assert worker_container(other)["image"].startswith("clearpath/worker:")

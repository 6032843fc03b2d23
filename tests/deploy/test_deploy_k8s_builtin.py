"""Every overlay builds, its built-in kinds pass the Kubernetes schemas, and the workers are
locked down: probes, resources, non-root read-only containers, pod-name instance ids."""

from __future__ import annotations

from typing import Any

import kubernetes_validate.utils as kv  # type: ignore[import-untyped]
import pytest

from tests.deploy.conftest import OVERLAYS
from tests.deploy.manifests import is_built_in, of_kind, selects, worker_container

K8S_VERSION = "1.33.0"
STAGES = ("detection", "policy", "response")

Built = dict[str, list[dict[str, Any]]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_built_in_kinds_match_the_kubernetes_schemas(built: Built, overlay: str) -> None:
    checked = 0
    for doc in filter(is_built_in, built[overlay]):
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_stage_has_its_deployment_service_account_and_pdb(built: Built, overlay: str) -> None:
    docs = built[overlay]
    for kind in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
        names = {d["metadata"]["name"] for d in of_kind(docs, kind)}
        assert names == {f"clearpath-{s}" for s in STAGES}, kind
    for deployment in of_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = deployment["metadata"]["name"]
        for kind in ("Service", "PodDisruptionBudget"):
            matching = [d for d in of_kind(docs, kind) if selects(_selector(d), labels)]
            assert [d["metadata"]["name"] for d in matching] == [name], kind


def _selector(doc: dict[str, Any]) -> dict[str, Any]:
    selector = doc["spec"]["selector"]
    return dict(selector) if "matchLabels" in selector else {"matchLabels": selector}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_run_locked_down(built: Built, overlay: str) -> None:
    for deployment in of_kind(built[overlay], "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        container = worker_container(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert {"requests", "limits"} <= set(container["resources"])
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/tmp", "/etc/clearpath/policy"} <= mounts
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_instance_id_is_the_pod_name_and_secret_comes_from_a_secret(
    built: Built, overlay: str
) -> None:
    for deployment in of_kind(built[overlay], "Deployment"):
        env = {e["name"]: e for e in worker_container(deployment)["env"]}
        instance = env["CLEARPATH_WORKER__INSTANCE_ID"]["valueFrom"]["fieldRef"]
        assert instance["fieldPath"] == "metadata.name"
        ref = env["CLEARPATH_RESPONSE__APPEAL_SECRET"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "clearpath-appeal", "key": "secret"}
        assert env["CLEARPATH_POLICY__PATH"]["value"] == "/etc/clearpath/policy"
    assert not list(of_kind(built[overlay], "Secret")), "the appeal Secret is never in the repo"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_admits_only_prometheus_to_metrics(built: Built, overlay: str) -> None:
    (policy,) = of_kind(built[overlay], "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in spec["ingress"] for p in rule["ports"]] == [9100]
    egress_ports = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
    assert egress_ports == {9092, 6379, 53}
    for deployment in of_kind(built[overlay], "Deployment"):
        assert selects(spec["podSelector"], deployment["spec"]["template"]["metadata"]["labels"])


def test_gpu_overlay_schedules_detection_on_a_gpu(built: Built) -> None:
    (detection,) = (
        d
        for d in of_kind(built["gpu"], "Deployment")
        if d["metadata"]["name"] == "clearpath-detection"
    )
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

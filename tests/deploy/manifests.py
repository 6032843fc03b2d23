"""Small queries over rendered Kubernetes resources (plain dicts from kustomize build), and
what each Clearpath workload is expected to need (the single table the tests check against)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from shared import topics

__all__ = [
    "BUILT_IN_GROUPS",
    "CONSUMERS",
    "SECRET_REFS",
    "WORKLOADS",
    "Workload",
    "env_of",
    "is_built_in",
    "named",
    "of_kind",
    "pod_labels",
    "policies_selecting",
    "selects",
    "worker_container",
]

#: API groups whose schemas kubernetes-validate ships ("" is the core group).
BUILT_IN_GROUPS = frozenset({"", "apps", "autoscaling", "policy", "networking.k8s.io"})

#: Setting -> the operator-created Secret and key it comes from (docs/DEPLOY.md).
SECRET_REFS = {
    "CLEARPATH_RESPONSE__APPEAL_SECRET": {"name": "clearpath-appeal", "key": "secret"},
    "CLEARPATH_AUDIT__HASH_SECRET": {"name": "clearpath-audit", "key": "hash-secret"},
    "CLEARPATH_POSTGRES__URL": {"name": "clearpath-postgres", "key": "url"},
}
_APPEAL, _HASH, _PG = SECRET_REFS


@dataclass(frozen=True)
class Workload:
    """What one Deployment is: its port, its input (if a Kafka consumer), what it reaches."""

    port: str  # the container port named so: probes, Service, scraping
    port_number: int
    consumes: tuple[str, str] | None  # (consumer group, topic) for the Kafka workers
    secrets: frozenset[str]  # settings read from SECRET_REFS, and no others
    policy: bool  # builds the pipeline: the policy ConfigMap mounted
    redis: bool
    postgres: bool


#: Every Deployment. Secrets: every process that builds the pipeline signs appeal tokens
#: (shared/bootstrap.py), and the appeals worker verifies them; the producers of verdict audit
#: events (shared/worker.py _VERDICT_STAGES, the gateway) hash with the audit key (appeal
#: outcome audit events carry no hash); the audit sink, the appeals worker and the gateway use
#: PostgreSQL. Redis (the verdict cache) only where the process builds one: the appeals
#: worker (services/appeals/app.py) files appeals through AppealService, which has none.
WORKLOADS: dict[str, Workload] = {
    "detection": Workload(
        "metrics",
        9100,
        (topics.GROUP_DETECTION, topics.REQUESTS),
        frozenset({_APPEAL, _HASH}),
        policy=True,
        redis=True,
        postgres=False,
    ),
    "policy": Workload(
        "metrics",
        9100,
        (topics.GROUP_POLICY, topics.DETECTIONS),
        frozenset({_APPEAL}),
        policy=True,
        redis=False,
        postgres=False,
    ),
    "response": Workload(
        "metrics",
        9100,
        (topics.GROUP_RESPONSE, topics.DECISIONS),
        frozenset({_APPEAL, _HASH}),
        policy=True,
        redis=True,
        postgres=False,
    ),
    "audit": Workload(
        "metrics",
        9100,
        (topics.GROUP_AUDIT, topics.AUDIT),
        frozenset({_PG}),
        policy=False,
        redis=False,
        postgres=True,
    ),
    "appeals": Workload(
        "metrics",
        9100,
        (topics.GROUP_APPEALS, topics.APPEALS),
        frozenset({_APPEAL, _PG}),
        policy=True,
        redis=False,
        postgres=True,
    ),
    "gateway": Workload(
        "http",
        8080,
        None,
        frozenset({_APPEAL, _HASH, _PG}),
        policy=True,
        redis=True,
        postgres=True,
    ),
}
CONSUMERS = {name: w for name, w in WORKLOADS.items() if w.consumes is not None}


def is_built_in(doc: dict[str, Any]) -> bool:
    api = str(doc["apiVersion"])
    return (api.split("/")[0] if "/" in api else "") in BUILT_IN_GROUPS


def of_kind(docs: Iterable[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (doc for doc in docs if doc["kind"] == kind)


def named(docs: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels / matchExpressions with In) matches ``labels``."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", f"unsupported operator {expr['operator']}"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def worker_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["worker"]
    return dict(containers[0])


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The worker container's env by name (each name once)."""
    env = worker_container(deployment).get("env", [])
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), f"duplicate env in {deployment['metadata']['name']}"
    return {e["name"]: e for e in env}


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def policies_selecting(
    docs: Iterable[dict[str, Any]], deployment: dict[str, Any]
) -> list[dict[str, Any]]:
    """The NetworkPolicies (same namespace) whose podSelector matches the Deployment's pods."""
    namespace = deployment["metadata"].get("namespace")
    return [
        p
        for p in of_kind(docs, "NetworkPolicy")
        if p["metadata"].get("namespace") == namespace
        and selects(p["spec"]["podSelector"], pod_labels(deployment))
    ]

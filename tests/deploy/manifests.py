"""Small queries over rendered Kubernetes resources (plain dicts from kustomize build)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["BUILT_IN_GROUPS", "is_built_in", "named", "of_kind", "selects", "worker_container"]

#: API groups whose schemas kubernetes-validate ships ("" is the core group).
BUILT_IN_GROUPS = frozenset({"", "apps", "autoscaling", "policy", "networking.k8s.io"})


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

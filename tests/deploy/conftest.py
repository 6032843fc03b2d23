"""Fixtures of the deployment tier: every kustomize overlay, built once per session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.generated import ROOT
from tests.deploy.tools import ToolMissing, ensure_kustomize, kustomize_build

OVERLAYS = ("dev", "prod", "gpu")


@pytest.fixture(scope="session")
def built() -> dict[str, list[dict[str, Any]]]:
    """``{overlay: [rendered resources]}`` for k8s/overlays/*."""
    try:
        kustomize = ensure_kustomize()
    except ToolMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    return {name: kustomize_build(kustomize, ROOT / "k8s" / "overlays" / name) for name in OVERLAYS}

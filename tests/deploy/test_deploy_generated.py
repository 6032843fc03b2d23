"""Copies and renderings under k8s/ cannot drift from their sources."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.generated import POLICY_COPY, POLICY_SOURCE, ROOT, render_all

POLICY_COMPONENT = ROOT / "k8s" / "base" / "policy-files"


@pytest.mark.parametrize("target", sorted(render_all()), ids=lambda p: p.name)
def test_generated_file_is_current(target: Path) -> None:
    expected = render_all()[target]
    assert target.read_text(encoding="utf-8") == expected, (
        f"{target.relative_to(ROOT)} is stale: run `uv run python -m tests.deploy.generated`"
    )


def _relative_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_policy_copy_is_identical_to_the_packaged_default() -> None:
    sources = _relative_files(POLICY_SOURCE)
    assert sources == _relative_files(POLICY_COPY), "cp -r shared/policies/default/. into files/"
    for rel in sources:
        assert (POLICY_COPY / rel).read_bytes() == (POLICY_SOURCE / rel).read_bytes(), rel


def test_every_policy_file_is_in_the_config_map_and_mounted_at_its_path() -> None:
    kustomization = yaml.safe_load((POLICY_COMPONENT / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    keys = dict(entry.split("=", 1) for entry in generator["files"])
    assert {v.removeprefix("files/") for v in keys.values()} == _relative_files(POLICY_SOURCE)
    mount = yaml.safe_load((POLICY_COMPONENT / "mount.yaml").read_text())
    (volume,) = mount["spec"]["template"]["spec"]["volumes"]
    items = {item["key"]: item["path"] for item in volume["configMap"]["items"]}
    assert items == {key: path.removeprefix("files/") for key, path in keys.items()}

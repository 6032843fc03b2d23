"""requirements.lock pins every dependency pyproject.toml declares (default install + dev group)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.\-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def test_every_declared_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {_name(r) for r in project["project"]["dependencies"]}
    declared |= {_name(r) for r in project["dependency-groups"]["dev"]}
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {_name(line) for line in lock.splitlines() if re.match(r"^[A-Za-z0-9]", line)}
    assert declared <= pinned, f"regenerate requirements.lock: missing {sorted(declared - pinned)}"
    for line in lock.splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            assert "==" in line, line
    assert "--hash=sha256:" in lock

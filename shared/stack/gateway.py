"""The stack's HTTP gateway: ``python -m services.gateway`` as a managed local process.

It is started last, once Kafka, Redis and PostgreSQL answer and the schema is migrated,
on a free loopback port remembered in ``ports.json``; it is given the stack's endpoints
explicitly, so it serves this stack whatever the caller's environment names. Prometheus
finds it through ``prometheus/gateway.json`` (file-based discovery, label
``stage="gateway"``), which is written here whenever it starts.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from shared.stack.models import Endpoints
from shared.stack.process import LOOPBACK, spawn_detached, tail

__all__ = ["GatewayNode", "gateway_ready", "gateway_targets_file"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


def gateway_targets_file(state_dir: Path) -> Path:
    """Where the stack lists its gateway for Prometheus: ``<state>/prometheus/gateway.json``."""
    return state_dir / "prometheus" / "gateway.json"


def gateway_ready(url: str, *, timeout_s: float = 2.0) -> bool:
    """True when the gateway at ``url`` answers ``/readyz`` with 200."""
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class GatewayNode:
    """Files and command of the gateway that lives under ``state_dir/gateway``."""

    def __init__(self, *, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.home = state_dir / "gateway"
        self.pid_file = self.home / "gateway.pid"
        self.log = self.home / "gateway.log"
        self.targets = gateway_targets_file(state_dir)

    @property
    def marker(self) -> str:
        """Text on the gateway's command line that proves the process is this node."""
        return f"services.gateway --state-dir={self.state_dir}"

    @staticmethod
    def url(port: int) -> str:
        return f"http://{LOOPBACK}:{port}"

    def start(self, *, port: int, endpoints: Endpoints, progress: Callable[[str], None]) -> int:
        """Spawn the gateway on ``port`` against ``endpoints``; its pid."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "CLEARPATH_GATEWAY__HOST": LOOPBACK,
            "CLEARPATH_GATEWAY__PORT": str(port),
            "CLEARPATH_KAFKA__BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
            "CLEARPATH_REDIS__URL": endpoints.redis_url,
            "CLEARPATH_STACK__STATE_DIR": str(self.state_dir),
            "CLEARPATH_WORKER__INSTANCE_ID": "gateway-stack",
            "PYTHONUNBUFFERED": "1",
        }
        if endpoints.postgres_url:
            env["CLEARPATH_POSTGRES__URL"] = endpoints.postgres_url
        argv = [sys.executable, "-m", "services.gateway", f"--state-dir={self.state_dir}"]
        progress(f"Starting the HTTP gateway on {LOOPBACK}:{port}")
        pid = spawn_detached(argv, log_path=self.log, cwd=_REPO_ROOT, env=env)
        self.write_targets(port)
        return pid

    def write_targets(self, port: int | None) -> None:
        """List the gateway for Prometheus (an empty list when ``port`` is None)."""
        self.targets.parent.mkdir(parents=True, exist_ok=True)
        groups = (
            [{"targets": [f"{LOOPBACK}:{port}"], "labels": {"stage": "gateway"}}]
            if port is not None
            else []
        )
        tmp = self.targets.with_name(f".{self.targets.name}.tmp")
        tmp.write_text(json.dumps(groups, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.targets)  # Prometheus watches the file: never a half-written one

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

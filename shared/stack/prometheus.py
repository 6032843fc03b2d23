"""The local Prometheus: the OS package's server as our own process, scraping the workers.

Its configuration is rendered into ``state_dir/prometheus/prometheus.yml`` from the same
rules as ``deploy/prometheus/`` and discovers targets from every ``*.json`` next to it
(file-based discovery): ``targets.json``, which :func:`shared.launch.register_targets`
keeps up to date for launched workers, and ``gateway.json``, the stack's own gateway.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from shared.errors import StackError
from shared.stack.process import LOOPBACK, spawn_detached, tail
from shared.stack.redis import _apt

__all__ = [
    "JOB",
    "PrometheusNode",
    "ensure_prometheus",
    "prometheus_ready",
    "render_config",
    "targets_file",
]

#: The scrape job of the workers; alert rules select ``up{job="clearpath-workers"}``.
JOB = "clearpath-workers"


def targets_file(state_dir: Path) -> Path:
    """Where the launcher lists the workers to scrape: ``<state>/prometheus/targets.json``."""
    return state_dir / "prometheus" / "targets.json"


def ensure_prometheus(
    *, install: bool = True, progress: Callable[[str], None] = lambda _: None
) -> tuple[str, str]:
    """Paths of ``prometheus`` and ``promtool``; installs the OS package when missing (root)."""
    found = shutil.which("prometheus"), shutil.which("promtool")
    if found[0] is not None and found[1] is not None:
        return found[0], found[1]
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            "prometheus is not installed: install the OS package `prometheus` "
            "(e.g. `sudo apt-get install -y prometheus`), or set CLEARPATH_PROMETHEUS__URL"
        )
    progress("Installing prometheus (apt-get)")
    done = _apt(["install", "-y", "--no-install-recommends", "prometheus"])
    if done.returncode != 0:
        _apt(["update"])
        done = _apt(["install", "-y", "--no-install-recommends", "prometheus"])
    server, tool = shutil.which("prometheus"), shutil.which("promtool")
    if done.returncode != 0 or server is None or tool is None:
        detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise StackError(f"could not install prometheus with apt-get:\n{detail}")
    return server, tool


def prometheus_ready(url: str, *, timeout_s: float = 2.0) -> bool:
    """True when the Prometheus at ``url`` answers ``/-/ready`` with 200."""
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def render_config(*, targets: Path, rules_dir: Path, scrape_interval_s: float) -> dict[str, Any]:
    """The local configuration: targets from every ``*.json`` beside ``targets`` (the
    launched workers, the stack's gateway), every ``*.rules.yml``."""
    interval = _duration(scrape_interval_s)
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_dir / "*.rules.yml")],
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "file_sd_configs": [
                    {"files": [str(targets.parent / "*.json")], "refresh_interval": "5s"}
                ],
            }
        ],
    }


class PrometheusNode:
    """Files and command of the Prometheus that lives under ``state_dir/prometheus``."""

    def __init__(
        self, *, state_dir: Path, deploy_dir: Path, scrape_interval_s: float, install: bool = True
    ) -> None:
        self.home = state_dir / "prometheus"
        self.rules_dir = deploy_dir / "prometheus" / "rules"
        self.scrape_interval_s = scrape_interval_s
        self.install = install
        self.config = self.home / "prometheus.yml"
        self.targets = targets_file(state_dir)
        self.data_dir = self.home / "data"
        self.pid_file = self.home / "prometheus.pid"
        self.log = self.home / "prometheus.log"

    @property
    def marker(self) -> str:
        """Text on the server's command line that proves the process is this node."""
        return f"--config.file={self.config}"

    @staticmethod
    def url(port: int) -> str:
        return f"http://{LOOPBACK}:{port}"

    def write_config(self) -> None:
        """Render the configuration; create an empty targets file when there is none."""
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.targets.exists():
            self.targets.write_text("[]\n", encoding="utf-8")
        config = render_config(
            targets=self.targets,
            rules_dir=self.rules_dir,
            scrape_interval_s=self.scrape_interval_s,
        )
        header = "# Written by shared/stack/prometheus.py; rewritten on each start.\n"
        self.config.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def start(self, *, port: int, progress: Callable[[str], None]) -> int:
        """Spawn ``prometheus`` on ``port`` (loopback, lifecycle API on); its pid."""
        binary, _promtool = ensure_prometheus(install=self.install, progress=progress)
        self.write_config()
        argv = [
            binary,
            self.marker,
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=7d",
            f"--web.listen-address={LOOPBACK}:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]
        progress(f"Starting Prometheus on {LOOPBACK}:{port}")
        return spawn_detached(argv, log_path=self.log, cwd=self.home)

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

"""Start worker processes and stop exactly those, by pid (the demo, benchmarks and e2e tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import StackError
from shared.stack.process import file_lock, free_port, port_in_use
from shared.stack.prometheus import targets_file

__all__ = [
    "STAGES",
    "TOPOLOGIES",
    "WORKERS",
    "WorkerProcess",
    "register_targets",
    "start_worker",
    "stop_workers",
    "unregister_targets",
    "wait_ready",
]

STAGES = ("detection", "policy", "response")
#: The split topology runs ``STAGES`` as three processes; the chained one runs them in one.
TOPOLOGIES: dict[str, tuple[str, ...]] = {"split": STAGES, "chained": ("chained",)}
#: Every worker that can be started: the pipeline stages, the chained worker, the audit sink,
#: the appeals worker and the HTTP gateway (whose API port is also its metrics and health port).
WORKERS = (*STAGES, "chained", "audit", "appeals", "gateway")


@dataclass
class WorkerProcess:
    """A worker this process started: its pid, metrics URL and log file."""

    stage: str
    process: subprocess.Popen[bytes]
    metrics_url: str
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def target(self) -> str:
        """``host:port`` of its metrics endpoint, as Prometheus scrapes it."""
        return self.metrics_url.removeprefix("http://")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.metrics_url}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no chance to finish the batch (fault injection)."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, *, grace_s: float = 30.0) -> int | None:
        """SIGTERM, wait for a clean exit, SIGKILL after ``grace_s``; the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait(timeout=30)
        return self.process.returncode


def start_worker(
    stage: str, *, env: Mapping[str, str], log_dir: Path, instance: str = "0"
) -> WorkerProcess:
    """Start ``python -m services.<stage>`` with ``env`` on top of this process's environment."""
    if stage not in WORKERS:
        raise ValueError(f"unknown worker {stage!r}")
    port = free_port()
    listen = (
        {"CLEARPATH_GATEWAY__HOST": "127.0.0.1", "CLEARPATH_GATEWAY__PORT": str(port)}
        if stage == "gateway"
        else {"CLEARPATH_WORKER__METRICS_PORT": str(port)}
    )
    child_env = {
        **os.environ,
        **env,
        **listen,
        "CLEARPATH_WORKER__INSTANCE_ID": f"{stage}-{instance}",
        "PYTHONUNBUFFERED": "1",
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{stage}-{instance}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{stage}"],
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(stage, process, f"http://127.0.0.1:{port}", log_path, child_env)


def wait_ready(workers: Sequence[WorkerProcess], *, timeout_s: float = 180.0) -> None:
    """Block until every worker answers ``/readyz``; StackError (with its log) if one dies."""
    deadline = time.monotonic() + timeout_s
    pending = list(workers)
    while pending:
        for worker in list(pending):
            if not worker.alive():
                raise StackError(f"{worker.stage} worker exited: see {worker.log_path}")
            if worker.ready():
                pending.remove(worker)
        if pending and time.monotonic() > deadline:
            names = ", ".join(w.stage for w in pending)
            raise StackError(f"workers not ready after {timeout_s:.0f}s: {names}")
        time.sleep(0.2)


def stop_workers(workers: Sequence[WorkerProcess]) -> None:
    for worker in workers:
        worker.stop()


def _update_targets(state_dir: Path, drop: set[str], add: list[dict[str, object]]) -> Path:
    path = targets_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.with_name("targets.lock")):
        try:
            groups = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            groups = []
        kept = []
        for group in groups if isinstance(groups, list) else []:
            targets = group.get("targets", []) if isinstance(group, dict) else []
            # Entries of workers that died without unregistering listen on nothing: pruned.
            if (
                targets
                and not set(targets) & drop
                and all(port_in_use(int(t.rpartition(":")[2])) for t in targets)
            ):
                kept.append(group)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(kept + add, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)  # Prometheus watches the file: an atomic rename, never a half file
    return path


def register_targets(
    state_dir: Path, workers: Sequence[WorkerProcess], *, labels: Mapping[str, str] | None = None
) -> Path:
    """Add ``workers`` to ``<state>/prometheus/targets.json`` (file-based discovery).

    Each worker is one target group labelled with its ``stage`` (plus ``labels``); entries
    for the same address are replaced and entries nobody listens on any more are dropped.
    """
    add: list[dict[str, object]] = [
        {"targets": [w.target], "labels": {**(labels or {}), "stage": w.stage}} for w in workers
    ]
    return _update_targets(state_dir, {w.target for w in workers}, add)


def unregister_targets(state_dir: Path, workers: Sequence[WorkerProcess]) -> None:
    """Remove ``workers`` from the targets file (they are stopping)."""
    _update_targets(state_dir, {w.target for w in workers}, [])

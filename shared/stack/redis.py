"""The local Redis: the OS package's ``redis-server`` run as our own foreground process."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import redis

from shared.errors import StackError
from shared.stack.process import LOOPBACK, spawn_detached, tail

__all__ = ["RedisNode", "ensure_redis_server", "redis_ready"]

INSTALL_TIMEOUT_S = 600.0


def _apt(args: list[str]) -> subprocess.CompletedProcess[str]:
    # RUNLEVEL=1 keeps the package scripts from starting the system redis service.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    try:
        return subprocess.run(
            ["apt-get", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"apt-get {' '.join(args)} failed: {exc}") from exc


def ensure_redis_server(
    *, install: bool = True, progress: Callable[[str], None] = lambda _: None
) -> str:
    """Path of ``redis-server``; installs the OS package when missing and running as root."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            "redis-server is not installed: install the OS package `redis-server` "
            "(e.g. `sudo apt-get install -y redis-server`), or set CLEARPATH_REDIS__URL"
        )
    progress("Installing redis-server (apt-get)")
    done = _apt(["install", "-y", "--no-install-recommends", "redis-server"])
    if done.returncode != 0:
        _apt(["update"])
        done = _apt(["install", "-y", "--no-install-recommends", "redis-server"])
    found = shutil.which("redis-server")
    if done.returncode != 0 or found is None:
        detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise StackError(f"could not install redis-server with apt-get:\n{detail}")
    return found


def redis_ready(url: str, *, timeout_s: float = 2.0) -> bool:
    """True when the Redis at ``url`` answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


class RedisNode:
    """Files and command of the Redis that lives under ``state_dir/redis`` (no persistence)."""

    def __init__(self, *, state_dir: Path, install: bool = True) -> None:
        self.home = state_dir / "redis"
        self.install = install
        self.pid_file = self.home / "redis.pid"
        self.log = self.home / "redis.log"

    @property
    def marker(self) -> str:
        """Text on the server's command line that proves the process is this node."""
        return f"--dir {self.home}"

    @staticmethod
    def url(port: int) -> str:
        return f"redis://{LOOPBACK}:{port}/0"

    def start(self, *, port: int, progress: Callable[[str], None]) -> int:
        """Spawn ``redis-server`` on ``port``; its pid."""
        binary = ensure_redis_server(install=self.install, progress=progress)
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--dir",
            str(self.home),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            # Keep argv (and so the marker) in /proc/<pid>/cmdline: stop-by-pid checks it.
            "--set-proc-title",
            "no",
        ]
        progress(f"Starting Redis on {LOOPBACK}:{port}")
        return spawn_detached(argv, log_path=self.log, cwd=self.home)

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

"""A redis-server of a test's own, on a free loopback port, stopped by its pid."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.stack.process import LOOPBACK, wait_until
from shared.stack.redis import redis_ready

__all__ = ["private_redis"]


@contextmanager
def private_redis(port: int, home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A redis-server of our own on ``port`` (no persistence), stopped by its pid."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    argv = [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [*argv, "--dir", str(home)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"redis://{LOOPBACK}:{port}/0"
        ready = wait_until(lambda: redis_ready(url, timeout_s=0.2), timeout_s=10, interval_s=0.05)
        assert ready, f"private redis-server on port {port} did not start"
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)

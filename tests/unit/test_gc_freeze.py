"""A worker freezes its start-up heap before consuming (worker.freeze_heap), unless told not to.

Run in a child process: a freeze is process-wide and would change this test process's own
collections.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import gc
from types import SimpleNamespace
from shared.metrics import WorkerMetrics
from shared.worker import Worker

startup = [[i] for i in range(5000)]  # stands in for the model, policy and clients
seen = {}

class Loop:
    def run(self, stop):
        seen["frozen"] = gc.get_freeze_count()

health = SimpleNamespace(start=lambda: None, stop=lambda: None, url="http://x")
worker = Worker(
    stage="chained", loop=Loop(), metrics=WorkerMetrics.create(stage="chained"),
    health=health, freeze_heap={freeze},
)
assert worker.run() == 0
print(seen["frozen"])
"""


@pytest.mark.parametrize("freeze", [True, False])
def test_worker_freezes_the_startup_heap_when_asked(freeze: bool) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.replace("{freeze}", str(freeze))],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    frozen = int(out.stdout)
    # The 5,001 start-up containers at least, when frozen; nothing otherwise.
    assert frozen > 5000 if freeze else frozen == 0


def test_freezing_is_the_default() -> None:
    from shared.settings import WorkerSettings

    assert WorkerSettings().freeze_heap is True

"""Start-up heap freezing for long-running processes (workers and the gateway)."""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Move every object alive now (the model, policy, clients, imported modules) out of the
    garbage collector's reach and return how many there were.

    A full (generation 2) collection walks every tracked object; over a worker's start-up
    heap that took 64 to 99 ms, five times in a minute at 150 msgs/s on the 2-core VM, and
    every message in flight waited for it. After the freeze a full collection walks only
    what the batches since left alive. The start-up objects live as long as the process, so
    nothing is lost by never collecting them (``gc.freeze``; docs/BENCHMARKS.md, latency).
    Workers and the gateway call it once, just before they start serving
    (``worker.freeze_heap``).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

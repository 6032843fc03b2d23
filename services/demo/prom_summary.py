"""The demo's closing metrics summary, read back from Prometheus (not from the workers)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

from rich.console import Console

from shared.stack.process import wait_until

__all__ = ["print_prometheus_summary"]


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    full = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(full, timeout=5) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return []
    return list(body.get("data", {}).get("result", [])) if body.get("status") == "success" else []


def _value(sample: dict[str, Any]) -> float:
    return float(sample["value"][1])


def print_prometheus_summary(
    console: Console, url: str | None, *, verdicts: int, wait_s: float = 20.0
) -> None:
    """Verdicts by action, p99 end-to-end latency and dead letters, as Prometheus saw them."""
    if url is None:
        return
    scraped = f"sum(clearpath_verdicts_total) >= {verdicts}"
    if not wait_until(lambda: bool(_query(url, scraped)), timeout_s=wait_s, interval_s=1.0):
        console.print(f"[yellow]Prometheus at {url} has not scraped the verdicts yet[/]")
        return
    actions = {
        s["metric"].get("action", "?"): int(_value(s))
        for s in _query(url, "sum by (action) (clearpath_verdicts_total)")
    }
    p99 = _query(
        url, "histogram_quantile(0.99, sum by (le) (clearpath_end_to_end_latency_seconds_bucket))"
    )
    dead = {
        s["metric"].get("reason", "?"): int(_value(s))
        for s in _query(url, "sum by (reason) (clearpath_dead_letters_total)")
    }
    console.print("[bold]Read back from Prometheus[/]")
    console.print("  verdicts: " + ", ".join(f"{a} x{n}" for a, n in sorted(actions.items())))
    if p99:
        console.print(f"  end-to-end p99 (histogram): ≤ {_value(p99[0]) * 1000:.0f} ms")
    console.print(
        "  dead letters: "
        + (", ".join(f"{r} x{n}" for r, n in sorted(dead.items())) if dead else "none")
    )
    console.print(f"  Prometheus: {url}")

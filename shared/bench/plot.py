"""``clearpath bench e2e --plot FILE.png``: end-to-end latency against offered load.

Draws the result's ``load_curve`` points (the half-load run and every ``--load-curve``
fraction): p50, p99 and the p99 a client sees (after the last commit), against the offered
rate, with the closed-loop maximum and the 100 ms p99 goal for reference. matplotlib comes
with the ``plot`` extra; without it :func:`require_matplotlib` says how to install it, before
a benchmark is run for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError

__all__ = ["plot_latency", "require_matplotlib"]

#: The half-load p99 goal of issue #6 (ANCHORS.md), drawn for reference.
P99_GOAL_MS = 100.0


def require_matplotlib() -> None:
    """Raise a clear error when the ``plot`` extra is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "--plot needs matplotlib: install the plot extra (uv sync --extra plot, or "
            "pip install 'clearpath[plot]')"
        ) from exc


def plot_latency(result: Mapping[str, Any], path: Path) -> Path:
    """Write the latency-against-load chart of ``result`` (``BenchResult.as_dict()``) to
    ``path`` as PNG; the path written."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    import matplotlib.pyplot as plt

    points = [p for p in result.get("load_curve") or [] if p.get("offered_msgs_per_s")]
    if not points:
        raise ValueError("the result has no load-curve points to plot")
    offered = [float(p["offered_msgs_per_s"]) for p in points]
    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    try:
        for key, label, style in (
            ("p50_ms", "p50 (decided)", "o-"),
            ("p99_ms", "p99 (decided)", "s-"),
            ("visible_p99_ms", "p99 seen by a client", "^--"),
        ):
            xs = [x for x, p in zip(offered, points, strict=True) if p.get(key) is not None]
            ys = [float(p[key]) for p in points if p.get(key) is not None]
            if ys:
                axes.plot(xs, ys, style, label=label)
        axes.axhline(P99_GOAL_MS, color="grey", linestyle=":", label="p99 goal (100 ms)")
        closed = result.get("e2e_msgs_per_s")
        if closed:
            axes.axvline(float(closed), color="red", linestyle=":", label="closed-loop maximum")
        axes.set_yscale("log")
        axes.set_xlabel("offered load (msgs/s)")
        axes.set_ylabel("end-to-end latency (ms)")
        settings = result.get("settings") or {}
        machine = result.get("machine") or {}
        axes.set_title(
            f"clearpath bench e2e: {settings.get('topology', 'split')} topology, "
            f"{machine.get('cores', '?')} cores"
        )
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return path

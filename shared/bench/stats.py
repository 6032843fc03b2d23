"""Latency percentiles and message rates: pure functions, no clocks of their own."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["LatencySummary", "percentile", "ratio", "summarize", "sustained_rate"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks.

    The same definition as numpy's default (``method="linear"``); NaN for no values.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of one set of latencies, in milliseconds."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(latencies_ms: Sequence[float]) -> LatencySummary:
    """p50, p90, p99 and max of ``latencies_ms`` (NaN when empty), rounded to 0.01 ms."""

    def r(value: float) -> float:
        return value if math.isnan(value) else round(value, 2)

    return LatencySummary(
        count=len(latencies_ms),
        p50_ms=r(percentile(latencies_ms, 50)),
        p90_ms=r(percentile(latencies_ms, 90)),
        p99_ms=r(percentile(latencies_ms, 99)),
        max_ms=r(max(latencies_ms)) if latencies_ms else math.nan,
    )


def sustained_rate(arrivals_s: Sequence[float]) -> float:
    """Messages per second between the first and the last arrival: ``(n - 1) / span``.

    ``n - 1`` intervals separate ``n`` arrivals, so a steady stream measures its true rate.
    0.0 for fewer than two arrivals or a zero span (nothing to divide).
    """
    if len(arrivals_s) < 2:
        return 0.0
    span = max(arrivals_s) - min(arrivals_s)
    return (len(arrivals_s) - 1) / span if span > 0 else 0.0


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator`` rounded to 3 places; None when it is undefined."""
    if denominator <= 0 or math.isnan(numerator) or math.isnan(denominator):
        return None
    return round(numerator / denominator, 3)

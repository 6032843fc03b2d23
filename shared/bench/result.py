"""The result of one ``clearpath bench e2e`` run: headline numbers, their ratios, the machine."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shared.bench.stats import LatencySummary, ratio

__all__ = ["BenchResult", "PhaseResult", "machine_info"]


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One phase: how many messages, its rate, and (for Kafka phases) verdict latencies."""

    name: str
    messages: int
    msgs_per_s: float
    seconds: float
    latency: LatencySummary | None = None
    notes: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["msgs_per_s"] = round(self.msgs_per_s, 1)
        out["seconds"] = round(self.seconds, 3)
        out["latency"] = self.latency.as_dict() if self.latency else None
        out["notes"] = dict(self.notes)
        return out


def _clean(value: float | None) -> float | None:
    """JSON has no NaN: undefined numbers are written as null."""
    if value is None or math.isnan(value):
        return None
    return round(value, 2)


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Every phase of one run plus the headline numbers and ratios derived from them."""

    closed: PhaseResult
    model_only: PhaseResult
    naive: PhaseResult
    cache_hit: PhaseResult
    half_load: PhaseResult
    machine: Mapping[str, Any]
    settings: Mapping[str, Any]
    #: Open loops at other fractions of the closed-loop rate (``--load-curve``), in order.
    load_curve: tuple[PhaseResult, ...] = ()

    @property
    def ratios(self) -> dict[str, float | None]:
        e2e = self.closed.msgs_per_s
        return {
            "e2e_over_model": ratio(e2e, self.model_only.msgs_per_s),
            "e2e_over_naive": ratio(e2e, self.naive.msgs_per_s),
            "cache_over_cold": ratio(self.cache_hit.msgs_per_s, e2e),
        }

    def headline(self) -> dict[str, Any]:
        """The flat numbers ``--json`` promises (plus the ratios)."""
        closed, half = self.closed.latency, self.half_load.latency
        return {
            "e2e_msgs_per_s": round(self.closed.msgs_per_s, 1),
            "model_only_msgs_per_s": round(self.model_only.msgs_per_s, 1),
            "naive_msgs_per_s": round(self.naive.msgs_per_s, 1),
            "cache_hit_msgs_per_s": round(self.cache_hit.msgs_per_s, 1),
            "p50_ms": _clean(closed.p50_ms if closed else None),
            "p99_ms": _clean(closed.p99_ms if closed else None),
            "p50_ms_at_half_load": _clean(half.p50_ms if half else None),
            "p99_ms_at_half_load": _clean(half.p99_ms if half else None),
            # Scheduled send -> verdict read (decided_at + the response commit + the fetch).
            "p99_visible_ms_at_half_load": self.half_load.notes.get("visible_p99_ms"),
            "half_load_rate": self.half_load.notes.get("target_rate"),
            **self.ratios,
        }

    def as_dict(self) -> dict[str, Any]:
        phases = (self.closed, self.model_only, self.naive, self.cache_hit, self.half_load)
        return {
            **self.headline(),
            "phases": {p.name: _json_safe(p.as_dict()) for p in phases},
            "load_curve": self.curve_points(),
            "machine": dict(self.machine),
            "settings": dict(self.settings),
        }

    def curve_points(self) -> list[dict[str, Any]]:
        """Latency against offered load: the half-load run and the ``load_curve`` runs, by
        offered rate (what ``--plot`` draws)."""
        closed = self.closed.msgs_per_s
        points = []
        for phase in (self.half_load, *self.load_curve):
            latency = phase.latency
            offered = phase.notes.get("target_rate")
            points.append(
                {
                    "phase": phase.name,
                    "offered_msgs_per_s": offered,
                    "fraction_of_max": ratio(float(offered), closed) if offered else None,
                    "sustained_msgs_per_s": round(phase.msgs_per_s, 1),
                    "p50_ms": _clean(latency.p50_ms if latency else None),
                    "p90_ms": _clean(latency.p90_ms if latency else None),
                    "p99_ms": _clean(latency.p99_ms if latency else None),
                    "visible_p99_ms": phase.notes.get("visible_p99_ms"),
                    "missing": phase.notes.get("missing"),
                    "duplicates": phase.notes.get("duplicates"),
                }
            )
        return sorted(points, key=lambda p: p["offered_msgs_per_s"] or 0.0)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def machine_info(*, cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model and flags of note (from ``/proc/cpuinfo``), usable cores, Python, platform."""
    model: str | None = None
    flags: set[str] = set()
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name" and model is None:
            model = value.strip()
        elif name.strip() == "flags" and not flags:
            flags = set(value.split())
    notable = ("avx2", "avx512f", "avx512_vnni", "amx_int8")
    return {
        "cpu_model": model or platform.processor() or "unknown",
        "cores": len(os.sched_getaffinity(0)),
        "cpu_flags": [f for f in notable if f in flags],
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }

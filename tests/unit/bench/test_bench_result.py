"""The bench result model: headline numbers, ratios, JSON-safe output, machine info (pure)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from shared.bench.result import BenchResult, PhaseResult, machine_info
from shared.bench.stats import summarize


def _phase(name: str, rate: float, latencies: list[float] | None = None) -> PhaseResult:
    return PhaseResult(
        name=name,
        messages=100,
        msgs_per_s=rate,
        seconds=1.0,
        latency=summarize(latencies) if latencies is not None else None,
        notes={"target_rate": 50.0} if name == "half_load" else {},
    )


def _result(naive: float = 20.0) -> BenchResult:
    return BenchResult(
        closed=_phase("closed_loop", 100.0, [10.0, 20.0, 30.0]),
        model_only=_phase("model_only", 200.0),
        naive=_phase("naive", naive),
        cache_hit=_phase("cache_hit", 1500.0, [2.0, 3.0]),
        half_load=_phase("half_load", 50.0, [5.0, 6.0, 50.0]),
        machine={"cpu_model": "test cpu", "cores": 2},
        settings={"messages": 100},
    )


def test_headline_has_every_promised_key_and_ratios() -> None:
    out = _result().as_dict()
    for key in (
        "e2e_msgs_per_s",
        "model_only_msgs_per_s",
        "naive_msgs_per_s",
        "cache_hit_msgs_per_s",
        "p50_ms",
        "p99_ms",
        "p99_ms_at_half_load",
        "e2e_over_model",
        "e2e_over_naive",
        "cache_over_cold",
        "machine",
        "settings",
    ):
        assert key in out, key
    assert out["e2e_over_model"] == 0.5
    assert out["e2e_over_naive"] == 5.0
    assert out["cache_over_cold"] == 15.0
    assert out["p50_ms"] == 20.0
    assert out["half_load_rate"] == 50.0


def test_output_is_strict_json_even_with_undefined_numbers() -> None:
    result = _result(naive=0.0)
    text = json.dumps(result.as_dict(), allow_nan=False)
    assert json.loads(text)["e2e_over_naive"] is None
    assert json.loads(text)["phases"]["model_only"]["latency"] is None


def test_machine_info_reads_the_cpu_model(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Test Xeon\nflags\t\t: fpu avx2 avx512f amx_int8\n"
        "processor\t: 1\nmodel name\t: Test Xeon\n",
        encoding="utf-8",
    )
    info = machine_info(cpuinfo=cpuinfo)
    assert info["cpu_model"] == "Test Xeon"
    assert info["cpu_flags"] == ["avx2", "avx512f", "amx_int8"]
    assert info["cores"] >= 1
    assert not math.isnan(float(info["cores"]))

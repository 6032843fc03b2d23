"""Latency against load: the result's curve points, ``--load-curve`` parsing and the PNG."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from services.cli.bench import DEFAULT_CURVE, _fractions
from services.cli.main import build_app
from shared.bench.plot import plot_latency
from shared.bench.result import BenchResult, PhaseResult
from shared.bench.stats import summarize
from tests.unit.bench.test_bench_result import _result


def _open(name: str, offered: float, latencies: list[float]) -> PhaseResult:
    return PhaseResult(
        name=name,
        messages=len(latencies),
        msgs_per_s=offered * 0.98,
        seconds=10.0,
        latency=summarize(latencies),
        notes={"target_rate": offered, "visible_p99_ms": max(latencies) + 5, "missing": 0},
    )


def _with_curve() -> BenchResult:
    return replace(
        _result(),
        load_curve=(
            _open("load_0.9", 90.0, [80.0, 120.0, 400.0]),
            _open("load_0.1", 10.0, [20.0, 25.0, 40.0]),
        ),
    )


def test_curve_points_are_every_open_loop_by_offered_load() -> None:
    points = _with_curve().as_dict()["load_curve"]
    assert [p["phase"] for p in points] == ["load_0.1", "half_load", "load_0.9"]
    assert [p["offered_msgs_per_s"] for p in points] == [10.0, 50.0, 90.0]
    assert [p["fraction_of_max"] for p in points] == [0.1, 0.5, 0.9]  # closed loop: 100/s
    assert points[2]["p99_ms"] == pytest.approx(394.4, abs=0.1)
    assert points[0]["visible_p99_ms"] == 45.0 and points[0]["missing"] == 0
    json.dumps(points, allow_nan=False)


def test_without_a_curve_the_half_load_run_is_the_only_point() -> None:
    points = _result().as_dict()["load_curve"]
    assert [p["phase"] for p in points] == ["half_load"]


def test_the_plot_is_a_png_with_every_point(tmp_path: Path) -> None:
    written = plot_latency(_with_curve().as_dict(), tmp_path / "out" / "latency.png")
    data = written.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_a_result_without_points_cannot_be_plotted(tmp_path: Path) -> None:
    result = _result().as_dict()
    result["load_curve"] = []
    with pytest.raises(ValueError, match="no load-curve points"):
        plot_latency(result, tmp_path / "x.png")


def test_load_curve_fractions_parse_sort_and_refuse_nonsense() -> None:
    assert _fractions(None, plotting=False) == ()
    assert _fractions(None, plotting=True) == DEFAULT_CURVE
    assert _fractions("0.75, 0.1,0.25,0.1", plotting=False) == (0.1, 0.25, 0.75)
    for bad in ("0", "2.5", "a,b", ","):
        with pytest.raises(typer.BadParameter):
            _fractions(bad, plotting=False)


def test_the_cli_offers_the_curve_and_the_plot() -> None:
    out = CliRunner().invoke(build_app(), ["bench", "e2e", "--help"])
    assert out.exit_code == 0, out.output
    for option in ("--load-curve", "--curve-duration", "--plot"):
        assert option in out.output


def test_curve_tags_are_letters_only_and_distinct() -> None:
    from shared.bench.runner import _letters

    tags = [_letters(i) for i in range(1000)]
    assert all(t.isalpha() and t.isascii() for t in tags) and len(set(tags)) == 1000

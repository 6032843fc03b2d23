"""``clearpath bench e2e``: registered in the ``bench`` group; the table renders a result."""

from __future__ import annotations

import io

from rich.console import Console
from typer.testing import CliRunner

from services.cli.bench import render_table
from services.cli.main import build_app
from tests.unit.bench.test_bench_result import _result


def test_bench_e2e_is_registered_with_its_options() -> None:
    out = CliRunner().invoke(build_app(), ["bench", "e2e", "--help"])
    assert out.exit_code == 0, out.output
    for option in ("--json", "--messages", "--rate", "--classifier", "--duration"):
        assert option in out.output


def test_render_table_shows_every_phase_ratio_and_the_machine() -> None:
    buffer = io.StringIO()
    Console(file=buffer, width=160).print(render_table(_result().as_dict()))
    text = buffer.getvalue()
    for phase in ("closed_loop", "model_only", "naive", "cache_hit", "half_load"):
        assert phase in text
    assert "e2e / naive" in text and "5.0x" in text
    assert "test cpu" in text

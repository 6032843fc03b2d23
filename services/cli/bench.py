"""``clearpath bench e2e``: the whole pipeline against the bare model, a naive loop and the cache.

``register(bench_app)`` adds the command to the ``bench`` group that ``services.cli.main``
creates. The work is in :mod:`shared.bench.runner`; this module parses options and prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from shared.settings import Settings

__all__ = ["register", "render_table"]

Classifier = Literal["auto", "none"]


def _fmt(value: object, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}{suffix}" if abs(value) >= 10 else f"{value:.3g}{suffix}"
    return f"{value}{suffix}"


#: Load-curve fractions when ``--plot`` is given without ``--load-curve`` (0.5 is always run).
DEFAULT_CURVE = (0.1, 0.25, 0.75, 0.9)


def _fractions(spec: str | None, *, plotting: bool) -> tuple[float, ...]:
    """``--load-curve`` as fractions of the closed-loop rate (0 < f <= 2), in order."""
    if spec is None:
        return DEFAULT_CURVE if plotting else ()
    try:
        values = tuple(float(part) for part in spec.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter("--load-curve takes numbers, e.g. 0.1,0.25,0.75") from None
    if not values or any(not 0 < v <= 2 for v in values):
        raise typer.BadParameter("--load-curve fractions must be in (0, 2]")
    return tuple(sorted(set(values)))


def render_table(result: dict[str, object]) -> Table:
    """The headline numbers and ratios of ``BenchResult.as_dict()`` as a rich table."""
    phases = result["phases"]
    assert isinstance(phases, dict)
    settings = result.get("settings")
    topology = settings.get("topology", "split") if isinstance(settings, dict) else "split"
    table = Table(title=f"clearpath bench e2e ({topology} topology, one run, same machine)")
    for column in ("phase", "messages", "msgs/s", "p50 ms", "p99 ms", "notes"):
        table.add_column(column, justify="left" if column in ("phase", "notes") else "right")
    for name, phase in phases.items():
        latency = phase.get("latency") or {}
        notes = phase.get("notes") or {}
        shown = {
            k: v
            for k, v in notes.items()
            if k in ("missing", "duplicates", "cache_hits", "target_rate", "batch", "sent")
        }
        table.add_row(
            name,
            str(phase["messages"]),
            _fmt(phase["msgs_per_s"]),
            _fmt(latency.get("p50_ms")),
            _fmt(latency.get("p99_ms")),
            ", ".join(f"{k}={v}" for k, v in shown.items()),
        )
    table.add_section()
    for key, label, goal in (
        ("e2e_over_model", "e2e / model only", "≥ 0.7"),
        ("e2e_over_naive", "e2e / naive", "≥ 5"),
        ("cache_over_cold", "cache hit / cold", "≥ 10"),
    ):
        table.add_row(label, "", _fmt(result.get(key), "x"), "", "", f"goal {goal}")
    table.add_row(
        "p99 at half load",
        "",
        "",
        _fmt(result.get("p50_ms_at_half_load")),
        _fmt(result.get("p99_ms_at_half_load")),
        "goal p99 < 100 ms",
    )
    machine = result.get("machine")
    if isinstance(machine, dict):
        table.caption = (
            f"{machine.get('cpu_model')} · {machine.get('cores')} cores · "
            "numbers are noisy on a shared machine"
        )
    return table


def register(
    bench_app: typer.Typer, *, settings_factory: Callable[[], Settings] = Settings
) -> None:
    """Add ``e2e`` to the ``bench`` group."""

    @bench_app.command("e2e")
    def bench_e2e(
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
        messages: Annotated[int, typer.Option(min=10, help="Messages in the closed loop.")] = 3000,
        rate: Annotated[
            float | None, typer.Option(min=1, help="Open-loop rate (default: half the max).")
        ] = None,
        classifier: Annotated[
            str, typer.Option(help="auto (the ONNX classifier when available) or none.")
        ] = "auto",
        duration: Annotated[float, typer.Option(min=1, help="Open-loop seconds.")] = 20.0,
        naive_messages: Annotated[
            int, typer.Option(min=10, help="Messages through the naive loop (a prefix).")
        ] = 1000,
        keep: Annotated[bool, typer.Option("--keep", help="Leave the stack running.")] = False,
        warmup_seconds: Annotated[
            float, typer.Option(min=0, help="Broker warm-up (transactions) before measuring.")
        ] = 20.0,
        warmup_messages: Annotated[
            int, typer.Option(min=0, help="Unmeasured messages through the workers first.")
        ] = 1000,
        topology: Annotated[
            str,
            typer.Option(help="split: three stage workers; chained: one worker, one transaction."),
        ] = "split",
        replicas: Annotated[
            int, typer.Option(min=1, max=8, help="Processes per worker (at most the partitions).")
        ] = 1,
        load_curve: Annotated[
            str | None,
            typer.Option(
                help="More open loops at these fractions of the closed-loop rate, e.g. "
                "0.1,0.25,0.75 (latency against load; with --plot: 0.1,0.25,0.75,0.9)."
            ),
        ] = None,
        curve_duration: Annotated[
            float | None,
            typer.Option(min=1, help="Seconds per load-curve point (default: --duration)."),
        ] = None,
        plot: Annotated[
            Path | None,
            typer.Option(help="Write latency against load as PNG here (the plot extra)."),
        ] = None,
    ) -> None:
        """Closed-loop e2e, bare model, naive loop, warm cache and half load, in one run."""
        from shared.bench.runner import BenchOptions, run_bench

        if classifier not in ("auto", "none"):
            raise typer.BadParameter("--classifier must be auto or none")
        choice: Classifier = "auto" if classifier == "auto" else "none"
        if topology not in ("split", "chained"):
            raise typer.BadParameter("--topology must be split or chained")
        shape: Literal["split", "chained"] = "split" if topology == "split" else "chained"
        fractions = _fractions(load_curve, plotting=plot is not None)
        if plot is not None:
            from shared.bench.plot import require_matplotlib
            from shared.errors import ConfigurationError

            try:
                require_matplotlib()  # before minutes of benchmark, not after
            except ConfigurationError as exc:
                raise typer.BadParameter(str(exc)) from None
        console = Console(stderr=True)
        options = BenchOptions(
            messages=messages,
            rate=rate,
            classifier=choice,
            duration_s=duration,
            naive_messages=min(naive_messages, messages),
            keep_stack=keep,
            warmup_s=warmup_seconds,
            warmup_messages=warmup_messages,
            topology=shape,
            replicas=replicas,
            load_curve=fractions,
            curve_duration_s=curve_duration,
        )
        result = run_bench(
            settings_factory(), options, progress=lambda line: console.print(f"[dim]{line}[/]")
        ).as_dict()
        if plot is not None:
            from shared.bench.plot import plot_latency

            console.print(f"latency against load written to {plot_latency(result, plot)}")
        if as_json:
            typer.echo(json.dumps(result))
        else:
            Console().print(render_table(result))

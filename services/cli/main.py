"""Entry point: assembles the sub-commands of ``clearpath``."""

from __future__ import annotations

import typer

from services.cli import audit, check, demo, gateway, model, policy, stack, worker
from services.cli import bench as bench_cli

__all__ = ["build_app", "main"]


def build_app() -> typer.Typer:
    app = typer.Typer(
        no_args_is_help=True, add_completion=False, help="Clearpath moderation pipeline."
    )
    for module in (check, stack, policy, worker, demo, audit, gateway):
        module.register(app)
    bench = typer.Typer(no_args_is_help=True, help="Benchmarks that print numbers.")
    app.add_typer(bench, name="bench")
    model.register(app, bench_app=bench)
    bench_cli.register(bench)
    return app


def main() -> None:
    build_app()()

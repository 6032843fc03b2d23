"""Entry point: assembles the sub-commands of ``clearpath``."""

from __future__ import annotations

import typer

from services.cli import check, demo, policy, stack, worker

__all__ = ["build_app", "main"]


def build_app() -> typer.Typer:
    app = typer.Typer(
        no_args_is_help=True, add_completion=False, help="Clearpath moderation pipeline."
    )
    for module in (check, stack, policy, worker, demo):
        module.register(app)
    return app


def main() -> None:
    build_app()()

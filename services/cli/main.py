"""Entry point: assembles the sub-commands of ``clearpath``."""

from __future__ import annotations

import typer

__all__ = ["build_app", "main"]


def build_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=False, help="Clearpath moderation pipeline.")
    return app


def main() -> None:
    build_app()()

"""``clearpath demo``: the main job end to end on the local stack."""

from __future__ import annotations

import typer
from rich.console import Console

from services.demo.run import run_demo
from shared.settings import Settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        repeat: int = typer.Option(
            3, min=1, max=1000, help="How many times to send the sample stream."
        ),
        keep: bool = typer.Option(
            False, "--keep", help="Leave the local stack running afterwards."
        ),
    ) -> None:
        """Stack up, workers up, a sample stream through Kafka, a summary; then clean up."""
        result = run_demo(Settings(), Console(), repeat=repeat, keep=keep)
        if len(result.verdicts) < result.sent:
            raise typer.Exit(1)
        if result.appeals is not None and not result.appeals.ok:
            raise typer.Exit(1)

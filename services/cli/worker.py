"""``clearpath worker detection|policy|response|chained|audit|appeals|gateway``: run one worker
until SIGTERM.

``chained`` runs detection, policy and response in one process with one transaction per batch
(``services.chained``).

``gateway`` is the HTTP API (``services.gateway``), served by uvicorn instead of a
Kafka consumer loop.
"""

from __future__ import annotations

import importlib
import logging
import sys
from enum import StrEnum

import typer

from shared.errors import ClearpathError

__all__ = ["StageChoice", "register", "run_worker"]


class StageChoice(StrEnum):
    detection = "detection"
    policy = "policy"
    response = "response"
    chained = "chained"
    audit = "audit"
    appeals = "appeals"
    gateway = "gateway"


def configure_logging() -> None:
    """Key=value lines on stderr; messages never carry request text."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )


def run_worker(stage: str) -> int:
    """Build the stage's app from the environment's settings and run it; the exit code."""
    configure_logging()
    if stage == "gateway":
        from services.gateway.serve import run_gateway  # web stack imported only when used

        return run_gateway()
    app_module = importlib.import_module(f"services.{stage}.app")
    try:
        worker = app_module.create_app()
    except ClearpathError as exc:
        logging.getLogger("clearpath.worker").error("stage=%s cannot start: %s", stage, exc)
        return 2
    code: int = worker.run()
    return code


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(stage: StageChoice = typer.Argument(..., help="Which layer to run.")) -> None:
        """Run one worker (consumes its input topic until SIGTERM)."""
        raise typer.Exit(run_worker(stage.value))

"""Detection worker: ``create_app`` wires settings, the pipeline and the Kafka loop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.detection.handlers import build_handler
from shared.bootstrap import build_pipeline
from shared.clock import utcnow
from shared.endpoints import kafka_bootstrap
from shared.pipeline import Pipeline
from shared.settings import Settings
from shared.worker import Worker, create_stage_worker

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    pipeline: Pipeline | None = None,
    bootstrap: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Worker:
    """The detection worker, ready to ``run()``; tests pass their own collaborators."""
    settings = settings or Settings()
    return create_stage_worker(
        "detection",
        settings=settings,
        pipeline=pipeline or build_pipeline(settings, classifier=True),
        bootstrap=bootstrap or kafka_bootstrap(settings),
        clock=clock,
        handler_factory=build_handler,
    )

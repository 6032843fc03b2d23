"""Detection worker: ``create_app`` wires settings, the pipeline and the Kafka loop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.detection.handlers import build_handler
from shared.bootstrap import build_pipeline
from shared.broker import BatchHandler
from shared.clock import utcnow
from shared.endpoints import kafka_bootstrap
from shared.metrics import WorkerMetrics
from shared.pipeline import Pipeline
from shared.settings import Settings
from shared.stage import StageContext
from shared.worker import Worker, build_worker, groups_for, topics_for

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
    pipeline = pipeline or build_pipeline(settings, classifier=True)
    topics = topics_for(settings)
    metrics = WorkerMetrics.create(stage="detection")
    metrics.build.info(
        {"model_version": pipeline.model_version, "policy": pipeline.policy.version_for("")}
    )

    def handler(ctx: StageContext) -> BatchHandler:
        return build_handler(
            pipeline=pipeline,
            topics=topics,
            ctx=ctx,
            max_text_bytes=settings.detection.max_text_bytes,
        )

    return build_worker(
        stage="detection",
        settings=settings,
        bootstrap=bootstrap or kafka_bootstrap(settings),
        input_topic=topics.requests,
        group_id=groups_for(settings).detection,
        build_handler=handler,
        metrics=metrics,
        clock=clock,
    )

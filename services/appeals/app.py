"""Appeals worker: ``create_app`` wires settings, the pipeline, the store and the Kafka loop.

Consumes ``clearpath.appeals.v1`` (group ``clearpath-appeals``) and files each appeal with
the same :class:`~shared.appeals.service.AppealService` the HTTP gateway uses: one outcome
rule, one store, one review queue, whichever way an appeal arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import ConnectionPool

from services.appeals.handlers import build_handler
from shared.appeals.metrics import AppealMetrics
from shared.appeals.service import AppealService
from shared.appeals.store import PostgresAppealStore
from shared.bootstrap import build_pipeline
from shared.clock import utcnow
from shared.db import migrate, open_pool
from shared.endpoints import kafka_bootstrap
from shared.endpoints import postgres_url as find_postgres
from shared.errors import ConfigurationError
from shared.metrics import WorkerMetrics
from shared.pipeline import Pipeline
from shared.secrets import appeal_verify_keys
from shared.settings import Settings
from shared.worker import Worker, build_worker, groups_for, topics_for

__all__ = ["AppealsWorker", "create_app"]

STAGE = "appeals"


@dataclass
class AppealsWorker:
    """The worker and the pool it owns (closed when it stops)."""

    worker: Worker
    pool: ConnectionPool

    def run(self) -> int:
        try:
            return self.worker.run()
        finally:
            self.pool.close()


class _NoEvents:
    """The handler gives each appeal its own collecting sink; this one is never used."""

    def deliver(self, events: object, *, timeout_s: float = 0.0) -> None:
        raise ConfigurationError("the appeals worker publishes in its Kafka transaction")

    def send(self, events: object) -> None:
        raise ConfigurationError("the appeals worker publishes in its Kafka transaction")

    def close(self) -> None:
        return None


def create_app(
    settings: Settings | None = None,
    *,
    pipeline: Pipeline | None = None,
    bootstrap: str | None = None,
    postgres_url: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> AppealsWorker:
    settings = settings or Settings()
    url = postgres_url or find_postgres(settings)
    migrate(url)
    pool = open_pool(url, settings.postgres, name=STAGE)
    try:
        pipeline = pipeline or build_pipeline(settings)
        metrics = WorkerMetrics.create(stage=STAGE)
        appeal_metrics = AppealMetrics.create(metrics.registry)
        appeal_metrics.initialize(
            profiles=pipeline.policy.profiles, categories=pipeline.policy.categories
        )
        service = AppealService(
            pipeline=pipeline,
            keys=appeal_verify_keys(settings),
            store=PostgresAppealStore(pool),
            events=_NoEvents(),
            topics=topics_for(settings),
            clock=clock,
            observer=appeal_metrics,
            source=STAGE,
        )
        worker = build_worker(
            stage=STAGE,
            settings=settings,
            bootstrap=bootstrap or kafka_bootstrap(settings),
            input_topic=topics_for(settings).appeals,
            group_id=groups_for(settings).appeals,
            build_handler=lambda ctx: build_handler(
                service, ctx=ctx, max_text_bytes=settings.detection.max_text_bytes
            ),
            metrics=metrics,
            clock=clock,
        )
    except BaseException:
        pool.close()
        raise
    return AppealsWorker(worker=worker, pool=pool)

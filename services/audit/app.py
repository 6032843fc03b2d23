"""Audit sink: ``create_app`` wires settings, the store, the Kafka loop and the upkeep thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import ConnectionPool

from services.audit.handlers import AuditDeps, build_handler
from services.audit.maintenance import Maintenance
from services.audit.metrics import AuditMetrics
from shared.audit.store import AuditStore
from shared.clock import utcnow
from shared.db import migrate, open_pool
from shared.endpoints import kafka_bootstrap
from shared.endpoints import postgres_url as find_postgres
from shared.metrics import WorkerMetrics
from shared.settings import Settings
from shared.worker import Worker, build_worker, groups_for, topics_for

__all__ = ["AuditWorker", "create_app"]

STAGE = "audit"


@dataclass
class AuditWorker:
    """The sink's process: the transactional loop, plus retention and verification beside it."""

    worker: Worker
    maintenance: Maintenance
    pool: ConnectionPool
    metrics: AuditMetrics

    def run(self) -> int:
        self.maintenance.start()
        try:
            return self.worker.run()
        finally:
            self.maintenance.stop()
            self.pool.close()


def create_app(
    settings: Settings | None = None,
    *,
    bootstrap: str | None = None,
    postgres_url: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> AuditWorker:
    """The audit sink: consumes the audit topic (group ``clearpath-audit``) into PostgreSQL.

    The schema is migrated first (idempotent), as every service that needs the database does.
    """
    settings = settings or Settings()
    url = postgres_url or find_postgres(settings)
    migrate(url)
    pool = open_pool(url, settings.postgres, name=STAGE)
    topics = topics_for(settings)
    store = AuditStore(pool, topic=topics.audit)
    metrics = WorkerMetrics.create(stage=STAGE)
    audit_metrics = AuditMetrics.create(metrics.registry)
    try:
        worker = build_worker(
            stage=STAGE,
            settings=settings,
            bootstrap=bootstrap or kafka_bootstrap(settings),
            input_topic=topics.audit,
            group_id=groups_for(settings).audit,
            build_handler=lambda ctx: build_handler(
                AuditDeps(store=store, ctx=ctx, metrics=audit_metrics)
            ),
            metrics=metrics,
            clock=clock,
        )
    except BaseException:
        pool.close()
        raise
    maintenance = Maintenance(
        store=store, settings=settings.audit, metrics=audit_metrics, clock=clock
    )
    return AuditWorker(worker=worker, maintenance=maintenance, pool=pool, metrics=audit_metrics)

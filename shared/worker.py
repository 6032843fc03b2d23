"""The process shell every worker shares: signals, the health server, the transactional loop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Literal

from shared.broker import BatchHandler, TransactionalLoop, client_config
from shared.health import HealthServer
from shared.metrics import WorkerMetrics
from shared.pipeline import Pipeline
from shared.settings import Settings
from shared.stage import StageContext
from shared.topics import GroupSet, TopicSet

__all__ = [
    "StageDeps",
    "StageName",
    "Worker",
    "build_worker",
    "create_stage_worker",
    "groups_for",
    "topics_for",
]

StageName = Literal["detection", "policy", "response"]


@dataclass(frozen=True)
class StageDeps:
    """What a stage's handler factory receives: built once, in one place."""

    pipeline: Pipeline
    topics: TopicSet
    ctx: StageContext
    max_text_bytes: int
    metrics: WorkerMetrics


log = logging.getLogger("clearpath.worker")


@dataclass
class Worker:
    """One stage's process: run until SIGTERM/SIGINT, finishing and committing the batch in hand."""

    stage: str
    loop: TransactionalLoop
    metrics: WorkerMetrics
    health: HealthServer

    def run(self) -> int:
        stop = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("stage=%s signal=%s: finishing the batch in hand", self.stage, signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.health.start()
        log.info("stage=%s metrics=%s/metrics", self.stage, self.health.url)
        try:
            self.loop.run(stop)
        finally:
            self.metrics.up.labels(self.stage).set(0)
            self.health.stop()
        log.info("stage=%s stopped cleanly", self.stage)
        return 0


def build_worker(
    *,
    stage: str,
    settings: Settings,
    bootstrap: str,
    input_topic: str,
    group_id: str,
    build_handler: Callable[[StageContext], BatchHandler],
    metrics: WorkerMetrics,
    clock: Callable[[], datetime],
) -> Worker:
    """Wire one stage: its handler, the transactional loop, metrics and the health server."""
    ctx = StageContext(stage=stage, deadletter_topic=_deadletter_topic(settings), clock=clock)
    handler = build_handler(ctx)

    def observed(size: int, seconds: float) -> None:
        metrics.messages.labels(stage).inc(size)
        metrics.batch_size.labels(stage).observe(size)
        metrics.stage_seconds.labels(stage).observe(seconds)
        for reason in ctx.dead_lettered:
            metrics.dead_letters.labels(stage, reason).inc()

    loop = TransactionalLoop(
        base_config=client_config(settings.kafka, bootstrap),
        input_topic=input_topic,
        group_id=group_id,
        transactional_id=f"{group_id}.{settings.worker.instance_id}",
        handler=handler,
        batch_max=settings.worker.batch_max,
        batch_wait_ms=settings.worker.batch_wait_ms,
        transaction_timeout_ms=settings.kafka.transaction_timeout_ms,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        group_instance_id=f"{group_id}.{settings.worker.instance_id}",
        observer=observed,
    )

    def ready() -> bool:
        is_ready = loop.ready.is_set()
        metrics.up.labels(stage).set(1 if is_ready else 0)
        return is_ready

    health = HealthServer(
        host=settings.worker.metrics_host,
        port=settings.worker.metrics_port,
        registry=metrics.registry,
        ready=ready,
    )
    return Worker(stage=stage, loop=loop, metrics=metrics, health=health)


def topics_for(settings: Settings) -> TopicSet:
    """The topic names this process uses (namespaced when ``worker.topic_suffix`` is set)."""
    suffix = settings.worker.topic_suffix
    return TopicSet.default().namespaced(suffix) if suffix else TopicSet.default()


def groups_for(settings: Settings) -> GroupSet:
    suffix = settings.worker.topic_suffix
    return GroupSet().namespaced(suffix) if suffix else GroupSet()


def _deadletter_topic(settings: Settings) -> str:
    return topics_for(settings).deadletter


#: Where each stage reads from: (its input topic, its consumer group).
_WIRING: dict[StageName, tuple[Callable[[TopicSet], str], Callable[[GroupSet], str]]] = {
    "detection": (lambda t: t.requests, lambda g: g.detection),
    "policy": (lambda t: t.detections, lambda g: g.policy),
    "response": (lambda t: t.decisions, lambda g: g.response),
}


def create_stage_worker(
    stage: StageName,
    *,
    settings: Settings,
    pipeline: Pipeline,
    bootstrap: str,
    clock: Callable[[], datetime],
    handler_factory: Callable[[StageDeps], BatchHandler],
) -> Worker:
    """A stage's worker: its topics and group, metrics, and the handler its factory builds."""
    topics = topics_for(settings)
    metrics = WorkerMetrics.create(stage=stage)
    metrics.build.info(
        {"model_version": pipeline.model_version, "policy": pipeline.policy.version_for("")}
    )
    input_topic, group = _WIRING[stage]

    def handler(ctx: StageContext) -> BatchHandler:
        return handler_factory(
            StageDeps(
                pipeline=pipeline,
                topics=topics,
                ctx=ctx,
                max_text_bytes=settings.detection.max_text_bytes,
                metrics=metrics,
            )
        )

    return build_worker(
        stage=stage,
        settings=settings,
        bootstrap=bootstrap,
        input_topic=input_topic(topics),
        group_id=group(groups_for(settings)),
        build_handler=handler,
        metrics=metrics,
        clock=clock,
    )

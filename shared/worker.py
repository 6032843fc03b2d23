"""The process shell every worker shares: signals, the health server, the transactional loop."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Literal, Protocol

from shared.audit.recorder import AuditRecorder, build_recorder
from shared.broker import BatchHandler, TransactionalLoop, client_config
from shared.cache import NullVerdictCache, VerdictCache, build_cache, metrics_observer
from shared.detector_timing import timed_pipeline
from shared.health import HealthServer
from shared.heap import freeze_startup_heap
from shared.metrics import WorkerMetrics
from shared.pipeline import Pipeline
from shared.settings import Settings
from shared.stage import StageContext
from shared.topics import GroupSet, TopicSet

__all__ = [
    "AppFactory",
    "StageDeps",
    "StageName",
    "Worker",
    "build_worker",
    "create_stage_worker",
    "groups_for",
    "stage_app",
    "topics_for",
]

StageName = Literal["detection", "policy", "response", "chained"]


@dataclass(frozen=True)
class StageDeps:
    """What a stage's handler factory receives: built once, in one place."""

    pipeline: Pipeline
    topics: TopicSet
    ctx: StageContext
    max_text_bytes: int
    metrics: WorkerMetrics
    cache: VerdictCache = field(default_factory=NullVerdictCache)
    #: Builds the audit event of each verdict (the stages that publish verdicts have one).
    audit: AuditRecorder | None = None


log = logging.getLogger("clearpath.worker")


@dataclass
class Worker:
    """One stage's process: run until SIGTERM/SIGINT, finishing and committing the batch in hand."""

    stage: str
    loop: TransactionalLoop
    metrics: WorkerMetrics
    health: HealthServer
    cache: VerdictCache = field(default_factory=NullVerdictCache)
    freeze_heap: bool = True

    def run(self) -> int:
        stop = threading.Event()
        if self.freeze_heap:
            freeze_startup_heap()

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
            self.cache.close()
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
    cache: VerdictCache | None = None,
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

    def lag_observed(group: str, partition: int, lag: int | None) -> None:
        if lag is None:  # revoked: drop the series instead of freezing its last value
            with contextlib.suppress(KeyError):
                metrics.consumer_lag.remove(group, str(partition))
        else:
            metrics.consumer_lag.labels(group, str(partition)).set(lag)

    loop = TransactionalLoop(
        base_config=client_config(settings.kafka, bootstrap),
        input_topic=input_topic,
        group_id=group_id,
        transactional_id=f"{group_id}.{settings.worker.instance_id}",
        handler=handler,
        batch_max=settings.worker.batch_max,
        batch_wait_ms=settings.worker.batch_wait_ms,
        pipelined_commits=settings.worker.pipelined_commits,
        retry_backoff_ms=settings.kafka.txn_retry_backoff_ms,
        transaction_timeout_ms=settings.kafka.transaction_timeout_ms,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        group_instance_id=f"{group_id}.{settings.worker.instance_id}",
        observer=observed,
        lag_observer=lag_observed,
        stats_observer=metrics.observe_kafka_stats,
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
    return Worker(
        stage=stage,
        loop=loop,
        metrics=metrics,
        health=health,
        cache=cache or NullVerdictCache(),
        freeze_heap=settings.worker.freeze_heap,
    )


def topics_for(settings: Settings) -> TopicSet:
    """The topic names this process uses (namespaced when ``worker.topic_suffix`` is set)."""
    suffix = settings.worker.topic_suffix
    return TopicSet.default().namespaced(suffix) if suffix else TopicSet.default()


def groups_for(settings: Settings) -> GroupSet:
    suffix = settings.worker.topic_suffix
    return GroupSet().namespaced(suffix) if suffix else GroupSet()


def _deadletter_topic(settings: Settings) -> str:
    return topics_for(settings).deadletter


#: Stages that use the verdict cache: detection reads it, response writes it, chained both.
_CACHED_STAGES: frozenset[StageName] = frozenset({"detection", "response", "chained"})
#: Stages that publish verdicts, and so an audit event with each: cache hits and the rest.
_VERDICT_STAGES: frozenset[StageName] = frozenset({"detection", "response", "chained"})

#: Where each stage reads from: (its input topic, its consumer group).
_WIRING: dict[StageName, tuple[Callable[[TopicSet], str], Callable[[GroupSet], str]]] = {
    "detection": (lambda t: t.requests, lambda g: g.detection),
    "policy": (lambda t: t.detections, lambda g: g.policy),
    "response": (lambda t: t.decisions, lambda g: g.response),
    # The detection group: switching topologies neither skips nor replays requests.
    "chained": (lambda t: t.requests, lambda g: g.detection),
}


def create_stage_worker(
    stage: StageName,
    *,
    settings: Settings,
    pipeline: Pipeline,
    bootstrap: str,
    clock: Callable[[], datetime],
    handler_factory: Callable[[StageDeps], BatchHandler],
    cache: VerdictCache | None = None,
) -> Worker:
    """A stage's worker: its topics and group, metrics, the verdict cache (built from
    settings unless given) and the handler its factory builds."""
    topics = topics_for(settings)
    metrics = WorkerMetrics.create(stage=stage)
    if cache is None:
        observer = metrics_observer(metrics)
        cache = (
            build_cache(settings, observer=observer)
            if stage in _CACHED_STAGES
            else NullVerdictCache()
        )

    def observe_inference(detector: str, seconds: float) -> None:
        metrics.inference_seconds.labels(detector).observe(seconds)

    pipeline = timed_pipeline(pipeline, observe=observe_inference)
    metrics.build.info(
        {"model_version": pipeline.model_version, "policy": pipeline.policy.version_for("")}
    )
    input_topic, group = _WIRING[stage]
    audit = (
        build_recorder(settings, source=stage, text_mode=pipeline.policy.audit_text)
        if stage in _VERDICT_STAGES
        else None
    )

    def handler(ctx: StageContext) -> BatchHandler:
        return handler_factory(
            StageDeps(
                pipeline=pipeline,
                topics=topics,
                ctx=ctx,
                max_text_bytes=settings.detection.max_text_bytes,
                metrics=metrics,
                cache=cache,
                audit=audit,
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
        cache=cache,
    )


class AppFactory(Protocol):
    """``create_app(settings=None, *, pipeline=None, bootstrap=None, clock=utcnow) -> Worker``."""

    def __call__(
        self,
        settings: Settings | None = None,
        *,
        pipeline: Pipeline | None = None,
        bootstrap: str | None = None,
        clock: Callable[[], datetime] = ...,
    ) -> Worker: ...


def stage_app(
    stage: StageName, *, handler_factory: Callable[[StageDeps], BatchHandler], classifier: bool
) -> AppFactory:
    """The ``create_app`` of a stage's service: settings from the environment unless given,
    the pipeline from :func:`shared.bootstrap.build_pipeline`, the broker from settings or the
    running local stack; tests pass their own collaborators."""
    from shared.bootstrap import build_pipeline
    from shared.clock import utcnow
    from shared.endpoints import kafka_bootstrap

    def create_app(
        settings: Settings | None = None,
        *,
        pipeline: Pipeline | None = None,
        bootstrap: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Worker:
        settings = settings or Settings()
        return create_stage_worker(
            stage,
            settings=settings,
            pipeline=pipeline or build_pipeline(settings, classifier=classifier),
            bootstrap=bootstrap or kafka_bootstrap(settings),
            clock=clock,
            handler_factory=handler_factory,
        )

    return create_app

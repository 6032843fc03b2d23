"""Stage handler dependencies for component tests: default topics, a fixed clock, fresh metrics."""

from __future__ import annotations

from collections.abc import Callable

from shared.audit.recorder import AuditRecorder
from shared.cache import NullVerdictCache, VerdictCache
from shared.metrics import WorkerMetrics
from shared.pipeline import Pipeline
from shared.schemas import MAX_TEXT_BYTES
from shared.stage import StageContext
from shared.topics import TopicSet
from shared.worker import StageDeps
from tests.support.factories import NOW

__all__ = ["TOPICS", "recorder", "stage_deps"]

TOPICS = TopicSet.default()


def recorder(
    pipeline: Pipeline,
    stage: str,
    *,
    key: bytes = b"k" * 32,
    new_id: Callable[[], str] | None = None,
) -> AuditRecorder:
    """An audit recorder for ``stage`` with a test key (and ids from ``new_id`` if given)."""
    extra = {"new_id": new_id} if new_id is not None else {}
    return AuditRecorder(
        source=stage, text_mode=pipeline.policy.audit_text, hash_key=key, hash_key_id="h1", **extra
    )


def stage_deps(
    pipeline: Pipeline,
    stage: str,
    *,
    cache: VerdictCache | None = None,
    audit: AuditRecorder | None = None,
    topics: TopicSet = TOPICS,
) -> StageDeps:
    """What ``stage``'s handler factory gets (no audit recorder unless given)."""
    return StageDeps(
        pipeline=pipeline,
        topics=topics,
        ctx=StageContext(stage=stage, deadletter_topic=topics.deadletter, clock=lambda: NOW),
        max_text_bytes=MAX_TEXT_BYTES,
        metrics=WorkerMetrics.create(stage=stage),
        cache=cache or NullVerdictCache(),
        audit=audit,
    )

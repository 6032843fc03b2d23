"""The synchronous path: one request through the same core and cache as the workers.

Each verdict is counted like the pipeline's and sent to the audit topic (an idempotent
producer, not a transaction: there is no input offset to commit with it; a verdict whose
audit event fails to send is logged and counted, never withheld from the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.audit.recorder import AuditRecorder
from shared.cache import VerdictCache
from shared.metrics import WorkerMetrics
from shared.pipeline import Pipeline
from shared.publisher import EventSink, OutgoingEvent
from shared.schemas import ModerationRequest, Verdict, encode, message_key
from shared.topics import TopicSet

__all__ = ["Moderator"]


@dataclass(frozen=True)
class Moderator:
    pipeline: Pipeline
    cache: VerdictCache
    events: EventSink
    topics: TopicSet
    metrics: WorkerMetrics
    clock: Callable[[], datetime]
    audit: AuditRecorder | None = None

    def check(self, request: ModerationRequest) -> Verdict:
        checked = self.pipeline.check_detailed(request, clock=self.clock, cache=self.cache)
        verdict = checked.verdict
        self.metrics.observe_cached_verdict(verdict, category=checked.category)
        if self.audit is not None:
            if checked.message is not None:
                event = self.audit.for_decision(checked.message, verdict)
            else:
                evidence = checked.cached.evidence if checked.cached is not None else None
                event = self.audit.for_cache_hit(request, verdict, evidence)
            self.events.send(
                [OutgoingEvent(self.topics.audit, message_key(request), encode(event))]
            )
        return verdict

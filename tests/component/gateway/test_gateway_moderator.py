"""The gateway's synchronous path: the pipeline's core and cache, counted and audited."""

from __future__ import annotations

import itertools

from services.gateway.metrics import GatewayMetrics
from services.gateway.moderator import Moderator
from shared.audit.events import VerdictAuditEvent
from shared.audit.recorder import AuditRecorder
from shared.core.appeal import verify
from shared.schemas import decode
from shared.topics import TopicSet
from tests.support.cache_fakes import InMemoryVerdictCache
from tests.support.factories import APPEAL_KEY, APPEAL_KID, NOW, make_request
from tests.support.gateway import BORDERLINE_TEXT, ListEvents, appeal_pipeline


def test_a_miss_and_a_hit_each_send_one_audit_event_and_count_like_the_pipeline() -> None:
    pipeline, cache, events = appeal_pipeline(), InMemoryVerdictCache(), ListEvents()
    metrics = GatewayMetrics.create()
    ids = itertools.count()
    moderator = Moderator(
        pipeline=pipeline,
        cache=cache,
        events=events,
        topics=TopicSet.default(),
        metrics=metrics.worker,
        clock=lambda: NOW,
        audit=AuditRecorder(
            source="gateway",
            text_mode=pipeline.policy.audit_text,
            hash_key=b"k" * 32,
            hash_key_id="h1",
            new_id=lambda: f"gw-{next(ids)}",
        ),
    )
    first = moderator.check(make_request(request_id="a", text=BORDERLINE_TEXT))
    second = moderator.check(make_request(request_id="b", text=BORDERLINE_TEXT))
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert first.action == second.action == "refuse"
    for verdict in (first, second):  # a re-served verdict's token binds its own request and text
        assert verdict.receipt is not None
        verify(
            verdict.receipt.appeal.token,
            keys={APPEAL_KID: APPEAL_KEY},
            now=NOW,
            request_id=verdict.request_id,
            text=BORDERLINE_TEXT,
        )
    audited = [decode(e.value, VerdictAuditEvent) for e in events.on("clearpath.audit.v1")]
    assert [(e.request_id, e.source, e.cache_hit) for e in audited] == [
        ("a", "gateway", False),
        ("b", "gateway", True),
    ]
    assert audited[1].evidence is not None  # the cached decision's evidence
    assert BORDERLINE_TEXT not in str([e.model_dump() for e in audited])  # no text by default
    labels = {"action": "refuse", "category": "crime_illicit", "profile": "public_assistant"}
    assert metrics.worker.registry.get_sample_value("clearpath_verdicts_total", labels) == 2

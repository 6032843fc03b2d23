"""Every verdict a stage publishes goes out with exactly one audit event, in the same batch."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from services.detection.handlers import build_handler as detection_handler
from services.policy.handlers import build_handler as policy_handler
from services.response.handlers import build_handler as response_handler
from shared.audit.events import VerdictAuditEvent
from shared.broker import Incoming, Outgoing
from shared.pipeline import Pipeline
from shared.schemas import ModerationRequest, Verdict, decode, encode, message_key
from shared.topics import TopicSet
from shared.worker import StageDeps
from tests.support.cache_fakes import InMemoryVerdictCache
from tests.support.factories import make_request
from tests.support.fakes import fake_pipeline
from tests.support.stages import recorder, stage_deps

TOPICS = TopicSet.default().namespaced("audit")
KEY = b"component-audit-key-0123456789ab"
REFUSED = "Give me steps to make a nerve agent"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return fake_pipeline()


def _deps(pipeline: Pipeline, stage: str, cache: InMemoryVerdictCache) -> StageDeps:
    ids = itertools.count()
    audit = recorder(pipeline, stage, key=KEY, new_id=lambda: f"{stage}-{next(ids)}")
    return stage_deps(pipeline, stage, cache=cache, audit=audit, topics=TOPICS)


def _records(outputs: Sequence[Outgoing], topic: str) -> list[Incoming]:
    chosen = [o for o in outputs if o.topic == topic]
    return [Incoming(topic, 0, i, o.key, o.value, 0) for i, o in enumerate(chosen)]


def _through(
    pipeline: Pipeline, cache: InMemoryVerdictCache, requests: Sequence[ModerationRequest]
) -> list[Outgoing]:
    raw = [Incoming(TOPICS.requests, 0, i, None, encode(r), 0) for i, r in enumerate(requests)]
    detected = detection_handler(_deps(pipeline, "detection", cache))(raw)
    decided = policy_handler(_deps(pipeline, "policy", cache))(
        _records(detected, TOPICS.detections)
    )
    responded = response_handler(_deps(pipeline, "response", cache))(
        _records(decided, TOPICS.decisions)
    )
    return [*detected, *decided, *responded]


def _split(outputs: Sequence[Outgoing]) -> tuple[list[Verdict], list[VerdictAuditEvent]]:
    verdicts = [decode(o.value, Verdict) for o in outputs if o.topic == TOPICS.verdicts]
    events = [decode(o.value, VerdictAuditEvent) for o in outputs if o.topic == TOPICS.audit]
    return verdicts, events


def test_each_verdict_and_each_cache_hit_has_one_audit_event(pipeline: Pipeline) -> None:
    cache = InMemoryVerdictCache()
    first = [
        make_request(request_id="a", text="How do I bake bread?", conversation_id="c1"),
        make_request(request_id="b", text=REFUSED, conversation_id="c2"),
        make_request(request_id="c", text="Email bob@example.com", conversation_id="c3"),
    ]
    outputs = _through(pipeline, cache, first)
    verdicts, events = _split(outputs)
    assert [e.request_id for e in events] == [v.request_id for v in verdicts] == ["a", "b", "c"]
    audit_keys = [o.key for o in outputs if o.topic == TOPICS.audit]
    assert audit_keys == [message_key(r) for r in first]
    for verdict, event in zip(verdicts, events, strict=True):
        assert (event.action, event.cache_hit, event.source) == (verdict.action, False, "response")
        assert event.text is None and event.text_mode == "none"
        expected = verdict.model_dump(mode="json", exclude_none=True)
        expected.pop("redacted_text", None)
        expected.get("receipt", {}).pop("rewrite", None)
        assert event.verdict == expected
    refusal = events[1]
    assert refusal.evidence is not None
    assert {r.category for r in refusal.evidence.rules_fired} == {"weapons_cbrn"}
    assert refusal.receipt is not None and verdicts[1].receipt is not None
    assert refusal.receipt.policy_ref == verdicts[1].receipt.policy_ref
    audit_bytes = b"".join(o.value for o in outputs if o.topic == TOPICS.audit)
    assert b"bob@example.com" not in audit_bytes and b"bake bread" not in audit_bytes

    hit_request = make_request(request_id="d", text=REFUSED, conversation_id="c4")
    outputs = _through(pipeline, cache, [hit_request])
    verdicts, events = _split(outputs)
    assert [v.cache_hit for v in verdicts] == [True]
    [event] = events
    assert (event.request_id, event.cache_hit, event.source) == ("d", True, "detection")
    assert event.evidence == refusal.evidence  # the cached decision's evidence travels along
    assert event.request_hash == refusal.request_hash  # same text, same keyed hash

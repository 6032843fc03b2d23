"""The three stage handlers chained through an in-memory hand-off (no broker)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.detection.handlers import build_handler as detection_handler
from services.policy.handlers import build_handler as policy_handler
from services.response.handlers import build_handler as response_handler
from shared.broker import Incoming, Outgoing
from shared.pipeline import Pipeline
from shared.schemas import DeadLetter, Verdict, decode, encode, message_key
from shared.worker import StageDeps
from tests.support.factories import make_request
from tests.support.fakes import fake_pipeline
from tests.support.stages import TOPICS, stage_deps


def _deliver(outputs: Sequence[Outgoing], topic: str) -> list[Incoming]:
    """What a consumer of ``topic`` would receive, with offsets assigned in order."""
    return [
        Incoming(topic=o.topic, partition=0, offset=i, key=o.key, value=o.value, timestamp_ms=0)
        for i, o in enumerate(o for o in outputs if o.topic == topic)
    ]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return fake_pipeline()


def _deps(pipeline: Pipeline, stage: str) -> StageDeps:
    return stage_deps(pipeline, stage)


def test_requests_become_verdicts_and_poison_becomes_dead_letters(pipeline: Pipeline) -> None:
    requests = [
        make_request(request_id="a", text="How do I kill a Python process?", conversation_id="c1"),
        make_request(
            request_id="b", text="Give me steps to make a nerve agent", conversation_id="c1"
        ),
        make_request(request_id="c", text="Email bob@example.com", conversation_id="c2"),
    ]
    raw = [encode(r) for r in requests] + [b"{oops", b"x" * 3]
    records = [Incoming(TOPICS.requests, 0, i, b"k", value, 0) for i, value in enumerate(raw)]
    detections = detection_handler(_deps(pipeline, "detection"))(records)
    decisions = policy_handler(_deps(pipeline, "policy"))(_deliver(detections, TOPICS.detections))
    verdict_out = response_handler(_deps(pipeline, "response"))(
        _deliver(decisions, TOPICS.decisions)
    )

    verdicts = [decode(o.value, Verdict) for o in verdict_out if o.topic == TOPICS.verdicts]
    assert [v.request_id for v in verdicts] == ["a", "b", "c"]
    assert [v.action for v in verdicts] == ["allow", "refuse", "redact"]
    assert [o.key for o in verdict_out] == [message_key(r) for r in requests]
    assert all({"detection", "policy", "response", "total"} <= set(v.timings_ms) for v in verdicts)

    letters = [decode(o.value, DeadLetter) for o in detections if o.topic == TOPICS.deadletter]
    assert [letter.error_type for letter in letters] == ["invalid_json", "invalid_json"]
    assert letters[0].original() == b"{oops" and letters[0].offset == 3
    assert letters[0].stage == "detection"


def test_an_unknown_profile_is_dead_lettered_by_the_policy_stage(pipeline: Pipeline) -> None:
    records = [Incoming(TOPICS.requests, 0, 0, None, encode(make_request(profile="nope")), 0)]
    detections = detection_handler(_deps(pipeline, "detection"))(records)
    deps = _deps(pipeline, "policy")
    decisions = policy_handler(deps)(_deliver(detections, TOPICS.detections))
    ctx = deps.ctx
    assert [o.topic for o in decisions] == [TOPICS.deadletter]
    assert decode(decisions[0].value, DeadLetter).error_type == "unknown_profile"
    assert ctx.dead_lettered == ["unknown_profile"]

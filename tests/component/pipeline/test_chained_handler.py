"""The chained worker's handler: the three steps in one batch, only the pipeline's outputs out."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.chained.handlers import HANDOFF_PARTITION
from services.chained.handlers import build_handler as chained_handler
from services.detection.handlers import build_handler as detection_handler
from services.policy.handlers import build_handler as policy_handler
from services.response.handlers import build_handler as response_handler
from shared.broker import Incoming, Outgoing
from shared.pipeline import Pipeline
from shared.schemas import (
    DeadLetter,
    ModerationRequest,
    Verdict,
    decode,
    encode,
    message_key,
)
from shared.worker import StageDeps
from tests.support.cache_fakes import InMemoryVerdictCache
from tests.support.factories import make_request
from tests.support.fakes import fake_pipeline
from tests.support.stages import TOPICS, recorder, stage_deps


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return fake_pipeline()


def _deps(pipeline: Pipeline, stage: str, cache: InMemoryVerdictCache | None = None) -> StageDeps:
    cache = cache or InMemoryVerdictCache()
    return stage_deps(pipeline, stage, cache=cache, audit=recorder(pipeline, stage))


def _records(values: Sequence[bytes]) -> list[Incoming]:
    return [Incoming(TOPICS.requests, 0, i, b"k", v, 0) for i, v in enumerate(values)]


def _deliver(outputs: Sequence[Outgoing], topic: str) -> list[Incoming]:
    return [
        Incoming(o.topic, 0, i, o.key, o.value, 0)
        for i, o in enumerate(o for o in outputs if o.topic == topic)
    ]


def _verdicts(outputs: Sequence[Outgoing]) -> list[Verdict]:
    return [decode(o.value, Verdict) for o in outputs if o.topic == TOPICS.verdicts]


def _requests() -> list[ModerationRequest]:
    return [
        make_request(request_id="a", text="How do I kill a Python process?", conversation_id="c1"),
        make_request(
            request_id="b", text="Give me steps to make a nerve agent", conversation_id="c1"
        ),
        make_request(request_id="c", text="Email bob@example.com", conversation_id="c2"),
        make_request(request_id="d", text="Write a haiku about the sea."),
    ]


def test_chained_gives_the_split_topologys_verdicts_and_publishes_no_intermediate_topic(
    pipeline: Pipeline,
) -> None:
    requests = _requests()
    raw = [encode(r) for r in requests] + [b"{oops"]

    chained = chained_handler(_deps(pipeline, "chained"))(_records(raw))

    detections = detection_handler(_deps(pipeline, "detection"))(_records(raw))
    decisions = policy_handler(_deps(pipeline, "policy"))(_deliver(detections, TOPICS.detections))
    split = response_handler(_deps(pipeline, "response"))(_deliver(decisions, TOPICS.decisions))

    assert {o.topic for o in chained} == {TOPICS.verdicts, TOPICS.audit, TOPICS.deadletter}
    got, want = _verdicts(chained), _verdicts(split)
    assert [v.request_id for v in got] == ["a", "b", "c", "d"]
    for g, w in zip(got, want, strict=True):
        assert (g.action, g.categories, g.redacted_text) == (
            w.action,
            w.categories,
            w.redacted_text,
        )
        assert (g.receipt is None) == (w.receipt is None)
        if g.receipt is not None and w.receipt is not None:
            assert g.receipt.policy_ref == w.receipt.policy_ref
            assert g.receipt.rewrite == w.receipt.rewrite
        assert {"detection", "policy", "response", "total"} <= set(g.timings_ms)
    keys = [o.key for o in chained if o.topic == TOPICS.verdicts]
    assert keys == [message_key(r) for r in requests]
    audit = [o for o in chained if o.topic == TOPICS.audit]
    assert len(audit) == 4, "one audit event per verdict, in the same transaction"
    letters = [decode(o.value, DeadLetter) for o in chained if o.topic == TOPICS.deadletter]
    assert [(x.stage, x.error_type, x.offset) for x in letters] == [
        ("detection", "invalid_json", 4)
    ]


def test_a_message_failing_in_the_policy_step_is_dead_lettered_and_its_neighbours_flow(
    pipeline: Pipeline,
) -> None:
    good = make_request(request_id="ok", text="Write a haiku about the sea.")
    bad = make_request(request_id="bad", text="hello", profile="nope")
    deps = _deps(pipeline, "chained")

    out = chained_handler(deps)(_records([encode(bad), encode(good)]))

    assert [v.request_id for v in _verdicts(out)] == ["ok"]
    letters = [decode(o.value, DeadLetter) for o in out if o.topic == TOPICS.deadletter]
    assert len(letters) == 1
    letter = letters[0]
    assert (letter.stage, letter.error_type) == ("policy", "unknown_profile")
    assert (letter.source_topic, letter.partition) == (TOPICS.detections, HANDOFF_PARTITION)
    assert b'"request_id":"bad"' in letter.original(), "the hand-off message carries the request"
    assert deps.ctx.dead_lettered == ["unknown_profile"]

    out = chained_handler(deps)(_records([encode(good)]))
    assert deps.ctx.dead_lettered == [], "a batch reports only its own dead letters"


def test_repeats_are_served_from_the_cache_the_chained_worker_fills(pipeline: Pipeline) -> None:
    cache = InMemoryVerdictCache()
    handle = chained_handler(_deps(pipeline, "chained", cache))
    first = _verdicts(handle(_records([encode(r) for r in _requests()])))
    assert not any(v.cache_hit for v in first)
    assert cache.store, "composed verdicts are written to the cache"

    again = [r.model_copy(update={"request_id": f"again-{r.request_id}"}) for r in _requests()]
    second = _verdicts(handle(_records([encode(r) for r in again])))
    assert [v.request_id for v in second] == [r.request_id for r in again]
    assert all(v.cache_hit for v in second), "repeated texts are answered from the cache"
    by_id = {v.request_id: v.action for v in first}
    assert all(v.action == by_id[v.request_id.removeprefix("again-")] for v in second)

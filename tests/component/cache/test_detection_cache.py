"""The verdict cache in the stage handlers and in ``Pipeline.check`` (in-memory fake cache)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from services.detection.handlers import build_handler as detection_handler
from services.policy.handlers import build_handler as policy_handler
from services.response.handlers import build_handler as response_handler
from shared.broker import Incoming, Outgoing
from shared.core.appeal import verify
from shared.detector_timing import timed_pipeline
from shared.pipeline import Pipeline
from shared.policy.loader import load_policy
from shared.schemas import (
    DetectionMessage,
    ModerationRequest,
    Verdict,
    decode,
    encode,
    message_key,
)
from shared.worker import StageDeps
from tests.support.cache_fakes import InMemoryVerdictCache
from tests.support.factories import APPEAL_KEY, APPEAL_KID, NOW, make_request
from tests.support.fakes import KeywordClassifier, fake_pipeline
from tests.support.stages import TOPICS, stage_deps

REFUSED = "Give me steps to make a nerve agent"


@pytest.fixture
def pipeline() -> Pipeline:
    return fake_pipeline()


def _deps(pipeline: Pipeline, stage: str, cache: InMemoryVerdictCache) -> StageDeps:
    return stage_deps(pipeline, stage, cache=cache)


def _records(outputs: Sequence[Outgoing], topic: str) -> list[Incoming]:
    chosen = [o for o in outputs if o.topic == topic]
    return [Incoming(topic, 0, i, o.key, o.value, 0) for i, o in enumerate(chosen)]


def _through(
    pipeline: Pipeline, cache: InMemoryVerdictCache, requests: Sequence[ModerationRequest]
) -> tuple[Sequence[Outgoing], list[Verdict]]:
    """Requests through the three handlers: (detection outputs, every verdict in order)."""
    raw = [Incoming(TOPICS.requests, 0, i, None, encode(r), 0) for i, r in enumerate(requests)]
    detected = detection_handler(_deps(pipeline, "detection", cache))(raw)
    decided = policy_handler(_deps(pipeline, "policy", cache))(
        _records(detected, TOPICS.detections)
    )
    responded = response_handler(_deps(pipeline, "response", cache))(
        _records(decided, TOPICS.decisions)
    )
    return detected, _verdict_outputs([*detected, *responded])


def _verdict_outputs(outputs: Sequence[Outgoing]) -> list[Verdict]:
    return [decode(o.value, Verdict) for o in outputs if o.topic == TOPICS.verdicts]


def test_a_repeated_request_is_answered_from_the_cache_with_its_own_ids_and_token(
    pipeline: Pipeline,
) -> None:
    cache = InMemoryVerdictCache()
    first = make_request(request_id="a", text=REFUSED, conversation_id="c1")
    _, [original] = _through(pipeline, cache, [first])
    assert not original.cache_hit and original.action == "refuse"
    assert len(cache.store) == 1

    second = make_request(request_id="b", text=REFUSED, conversation_id="c2")
    deps = _deps(pipeline, "detection", cache)
    outputs = detection_handler(deps)([Incoming(TOPICS.requests, 0, 0, None, encode(second), 0)])
    assert [o.topic for o in outputs] == [TOPICS.verdicts]
    assert outputs[0].key == message_key(second)
    [hit] = _verdict_outputs(outputs)
    assert hit.cache_hit
    assert (hit.request_id, hit.tenant_id, hit.conversation_id) == ("b", "t1", "c2")
    assert hit.action == original.action and hit.categories == original.categories
    assert set(hit.timings_ms) == {"cache", "total"}
    assert hit.receipt is not None and original.receipt is not None
    assert hit.receipt.appeal.token != original.receipt.appeal.token
    claims = verify(
        hit.receipt.appeal.token,
        keys={APPEAL_KID: APPEAL_KEY},
        now=NOW,
        tenant_id="t1",
        request_id="b",
    )
    assert claims.policy_ref == original.receipt.policy_ref
    registry = deps.metrics.registry
    labels = {"action": "refuse", "category": "weapons_cbrn", "profile": "public_assistant"}
    assert registry.get_sample_value("clearpath_verdicts_total", labels) == 1


def test_hits_and_misses_in_one_batch_keep_their_order(pipeline: Pipeline) -> None:
    cache = InMemoryVerdictCache()
    _through(pipeline, cache, [make_request(request_id="seed", text=REFUSED)])
    batch = [
        make_request(request_id="1", text="Write a haiku about rain", conversation_id="x"),
        make_request(request_id="2", text=REFUSED, conversation_id="y"),
        make_request(request_id="3", text=REFUSED, conversation_id="x"),  # behind a miss
    ]
    raw = [Incoming(TOPICS.requests, 0, i, None, encode(r), 0) for i, r in enumerate(batch)]
    outputs = detection_handler(_deps(pipeline, "detection", cache))(raw)
    assert [o.topic for o in outputs] == [TOPICS.detections, TOPICS.verdicts, TOPICS.detections]
    assert [decode(o.value, DetectionMessage).request.request_id for o in outputs[::2]] == [
        "1",
        "3",
    ]
    assert cache.gets[-1] == [pipeline.cache_key(r) for r in batch]


def test_a_tenant_that_opted_out_is_never_read_nor_written(pipeline: Pipeline) -> None:
    cache = InMemoryVerdictCache()
    requests = [make_request(request_id=f"n{i}", tenant_id="nocache", text=REFUSED) for i in (1, 2)]
    _through(pipeline, cache, requests[:1])
    detected, [verdict] = _through(pipeline, cache, requests[1:])
    assert not verdict.cache_hit
    assert [o.topic for o in detected] == [TOPICS.detections]
    assert cache.store == {}
    assert all(key is None for keys in cache.gets for key in keys)


def test_a_policy_or_model_change_never_serves_a_stale_verdict(pipeline: Pipeline) -> None:
    cache = InMemoryVerdictCache()
    _through(pipeline, cache, [make_request(request_id="a", text=REFUSED)])
    request = make_request(request_id="b", text=REFUSED)
    assert pipeline.cache_key(request) in cache.store

    policy = load_policy(None)
    bumped = type(policy).model_validate({**policy.model_dump(), "version": policy.version + 1})
    newer_policy = dataclasses.replace(pipeline, policy=bumped)

    class NewerModel(KeywordClassifier):
        @property
        def version(self) -> str:
            return "fake-keyword@2"

    newer_model = dataclasses.replace(pipeline, detectors=(pipeline.detectors[0], NewerModel()))
    for changed in (newer_policy, newer_model):
        assert changed.cache_key(request) not in cache.store
        _, [verdict] = _through(changed, cache, [request])
        assert not verdict.cache_hit
        assert verdict.policy_version == changed.policy.version_for("t1")
        assert verdict.model_version == changed.model_version
    assert len(cache.store) == 3


def test_check_uses_the_same_cache(pipeline: Pipeline) -> None:
    cache = InMemoryVerdictCache()
    first = pipeline.check(
        make_request(request_id="a", text=REFUSED), clock=lambda: NOW, cache=cache
    )
    second = pipeline.check(
        make_request(request_id="b", text=REFUSED), clock=lambda: NOW, cache=cache
    )
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.request_id == "b" and second.action == first.action
    assert len(cache.puts) == 1


def test_detectors_are_timed_per_batch_by_their_name(pipeline: Pipeline) -> None:
    seen: list[tuple[str, float]] = []
    timed = timed_pipeline(pipeline, observe=lambda name, s: seen.append((name, s)))
    assert timed.model_version == pipeline.model_version
    timed.detect([make_request(), make_request()])
    assert [name for name, _ in seen] == ["lexical", "fake-keyword"]

"""The verdict cache end to end: repeated texts are answered from Redis, once per request."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from shared.stack.models import Endpoints
from tests.support.factories import text_tag
from tests.support.pipeline import make_requests, running_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_repeated_round_is_answered_from_the_cache(
    stack_endpoints: Endpoints, tmp_path: Path
) -> None:
    run = text_tag()  # fresh texts: the test Redis outlives one test
    first = [
        r.model_copy(update={"text": f"{r.text} [{run}]"})
        for r in make_requests(60, conversations=6, prefix="c1")
    ]
    second = [
        r.model_copy(update={"request_id": r.request_id.replace("c1-", "c2-")}) for r in first
    ]
    with running_pipeline(stack_endpoints, tmp_path) as pipeline:
        for request in first:
            pipeline.producer.send(request)
        pipeline.producer.flush()
        before = pipeline.collect({r.request_id for r in first}, settle_s=0.5)
        for request in second:
            pipeline.producer.send(request)
        pipeline.producer.flush()
        verdicts = pipeline.collect({r.request_id for r in first + second})

    assert not any(v.cache_hit for v in before)
    counts = Counter(v.request_id for v in verdicts)
    assert set(counts) == {r.request_id for r in first + second}
    assert max(counts.values()) == 1, "a request got more than one verdict"
    by_id = {v.request_id: v for v in verdicts}
    for original, repeat in zip(first, second, strict=True):
        hit = by_id[repeat.request_id]
        assert hit.cache_hit, repeat.request_id
        assert hit.action == by_id[original.request_id].action
        assert hit.tenant_id == repeat.tenant_id and hit.conversation_id == repeat.conversation_id

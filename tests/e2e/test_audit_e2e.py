"""The audit trail end to end: one audit event per verdict (cache hits too), chained, no text."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from shared.audit.verify import verify_topic
from shared.stack.models import Endpoints
from tests.support.audit import audit_rows, document_of, drop_chains, running_sink, wait_for_rows
from tests.support.factories import text_tag
from tests.support.pipeline import RunningPipeline, make_requests, running_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _audit_topic_counts(pipeline: RunningPipeline, expected: int) -> Counter[str]:
    """Committed events on the audit topic per request id (a little past ``expected``)."""
    reader = pipeline.reader(pipeline.topics.audit)
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + 60
    try:
        while sum(counts.values()) < expected and time.monotonic() < deadline:
            for _, value in reader.poll_raw(0.5):
                counts[json.loads(value or b"{}")["request_id"]] += 1
        settle = time.monotonic() + 2
        while time.monotonic() < settle:  # so that a duplicate would show
            for _, value in reader.poll_raw(0.5):
                counts[json.loads(value or b"{}")["request_id"]] += 1
    finally:
        reader.close()
    return counts


def test_every_verdict_has_exactly_one_audit_event_and_no_text_is_stored(
    stack_endpoints: Endpoints, tmp_path: Path
) -> None:
    url = stack_endpoints.postgres_url
    assert url is not None
    run = text_tag()  # fresh texts: the test Redis outlives one test
    first = [
        r.model_copy(update={"text": f"{r.text} [{run}]"})
        for r in make_requests(40, conversations=8, prefix="a1")
    ]
    second = [
        r.model_copy(update={"request_id": r.request_id.replace("a1-", "a2-")}) for r in first
    ]
    everyone = {r.request_id for r in first + second}
    with running_pipeline(stack_endpoints, tmp_path) as pipeline:
        topic = pipeline.topics.audit
        try:
            with running_sink({**pipeline.env, "CLEARPATH_POSTGRES__URL": url}, pipeline.log_dir):
                for request in first:
                    pipeline.producer.send(request)
                pipeline.producer.flush()
                pipeline.collect({r.request_id for r in first}, settle_s=0.5)
                for request in second:
                    pipeline.producer.send(request)
                pipeline.producer.flush()
                verdicts = pipeline.collect(everyone)
                on_topic = _audit_topic_counts(pipeline, len(everyone))
                stored = wait_for_rows(url, topic, len(everyone))
                rows = audit_rows(url, topic)
                with psycopg.connect(url) as conn:
                    reports = verify_topic(conn, topic)
        finally:
            drop_chains(url, topic)

    assert Counter(v.request_id for v in verdicts) == Counter(everyone)
    assert on_topic == Counter(everyone), "an audit event missing or duplicated on the topic"
    assert stored == len(everyone)
    assert Counter(r["request_id"] for r in rows) == Counter(everyone)
    assert reports and all(r.intact for r in reports)

    by_request = {r["request_id"]: document_of(r) for r in rows}
    verdict_of = {v.request_id: v for v in verdicts}
    for request_id, event in by_request.items():
        verdict = verdict_of[request_id]
        assert event["kind"] == "verdict" and event["text_mode"] == "none"
        assert event["action"] == verdict.action and event["cache_hit"] == verdict.cache_hit
        assert event["verdict"]["request_id"] == request_id
        assert "redacted_text" not in event["verdict"]
    hits = [by_request[r.request_id] for r in second]
    assert all(e["cache_hit"] and e["source"] == "detection" for e in hits)
    assert all(e["evidence"] is not None for e in hits)
    assert all(not by_request[r.request_id]["cache_hit"] for r in first)

    for row in rows:  # no raw text under mode none: not the text, not its PII, not its marker
        stored_text = row["canonical"]
        assert run not in stored_text and "someone@example.com" not in stored_text
        assert json.dumps(row["event"]).find(run) == -1

"""The HTTP gateway end to end: real Kafka, Redis, PostgreSQL, the real classifier.

A borderline refusal is produced through the Kafka pipeline; it is appealed through the
gateway's API (a process, as ``clearpath worker gateway`` runs it) with added context
(overturned), without (upheld) and with context the policy cannot weigh (queued, then
decided by a reviewer); every outcome arrives on the appeal-outcomes topic and in the audit
trail. Decisions are tenant-scoped; forged, expired and mismatched tokens are rejected; the
OpenAI-shaped endpoint answers the documented shape; keys are rate limited in Redis.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from services.gateway.openai_shape import OPENAI_CATEGORIES
from shared.apikeys import Role, parse_key
from shared.appeals.events import AppealMessage, AppealOutcomeEvent
from shared.client import RequestProducer
from shared.clock import utcnow
from shared.core.appeal import AppealClaims, sign, text_binding
from shared.launch import WorkerProcess, start_worker, stop_workers, wait_ready
from shared.schemas import ModerationRequest, Verdict, decode, encode
from shared.secrets import appeal_key
from shared.settings import Settings, StackSettings
from shared.stack.models import Endpoints
from tests.support.audit import drop_chains, running_sink
from tests.support.gateway import BORDERLINE_TEXT, HttpClient, create_key, running_gateway
from tests.support.pipeline import RunningPipeline, running_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@dataclass
class Deployment:
    pipeline: RunningPipeline
    gateway: WorkerProcess
    postgres_url: str
    run: str

    def key(self, tenant: str, role: Role = "client", *, rate_limit: str | None = None) -> str:
        return create_key(self.postgres_url, tenant, role, rate_limit=rate_limit)

    def call(
        self, method: str, path: str, key: str | None, body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        return HttpClient(self.gateway.metrics_url).call(method, path, key, body)

    def verdicts(self, requests: list[ModerationRequest]) -> dict[str, Verdict]:
        for request in requests:
            self.pipeline.producer.send(request)
        self.pipeline.producer.flush()
        wanted = {r.request_id for r in requests}
        return {
            v.request_id: v
            for v in self.pipeline.collect(wanted, settle_s=0.2)
            if v.request_id in wanted
        }


@pytest.fixture(scope="module")
def deployment(
    stack_endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    url = stack_endpoints.postgres_url
    assert url is not None
    tmp = tmp_path_factory.mktemp("gateway-e2e")
    with running_pipeline(stack_endpoints, tmp, classifier="auto") as pipeline:
        env = {**pipeline.env, "CLEARPATH_POSTGRES__URL": url}
        try:
            with (
                running_sink(env, pipeline.log_dir),
                running_gateway(pipeline, url) as gateway,
                _running_appeals_worker(env, pipeline.log_dir),
            ):
                yield Deployment(pipeline, gateway, url, uuid.uuid4().hex[:8])
        finally:
            drop_chains(url, pipeline.topics.audit)


@contextmanager
def _running_appeals_worker(env: dict[str, str], log_dir: Path) -> Iterator[WorkerProcess]:
    worker = start_worker("appeals", env=env, log_dir=log_dir)
    try:
        wait_ready([worker])
        yield worker
    finally:
        stop_workers([worker])


def _request(run: str, n: int, tenant: str) -> ModerationRequest:
    return ModerationRequest(
        request_id=f"gw-{run}-{n}", tenant_id=tenant, text=BORDERLINE_TEXT, submitted_at=utcnow()
    )


def _appeal(verdict: Verdict, **extra: Any) -> dict[str, Any]:
    assert verdict.receipt is not None
    return {
        "request_id": verdict.request_id,
        "token": verdict.receipt.appeal.token,
        "text": BORDERLINE_TEXT,
        **extra,
    }


def _outcomes(
    pipeline: RunningPipeline, count: int, *, request_id: str | None = None
) -> list[AppealOutcomeEvent]:
    """Outcome events (of ``request_id`` when given) until ``count`` arrived (bounded)."""
    reader = pipeline.reader(pipeline.topics.appeal_outcomes)
    seen: list[AppealOutcomeEvent] = []
    deadline = time.monotonic() + 60
    try:
        while len(seen) < count and time.monotonic() < deadline:
            events = [decode(v, AppealOutcomeEvent) for _, v in reader.poll_raw(0.5)]
            seen += [e for e in events if request_id in (None, e.request_id)]
    finally:
        reader.close()
    return seen


def _audit_kinds(url: str, topic: str, request_id: str, want: int) -> list[str]:
    deadline = time.monotonic() + 60
    kinds: list[str] = []
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT kind FROM audit_events WHERE topic = %s AND request_id = %s ORDER BY seq",
                (topic, request_id),
            ).fetchall()
        kinds = [str(r[0]) for r in rows]
        if len(kinds) >= want:
            break
        time.sleep(0.3)
    return kinds


def test_the_appeal_round_trip_through_kafka_and_the_api(deployment: Deployment) -> None:
    run, tenant = deployment.run, f"tenant-a-{deployment.run}"
    client, reviewer = deployment.key(tenant), deployment.key(tenant, "reviewer")
    requests = [_request(run, n, tenant) for n in range(3)]
    verdicts = deployment.verdicts(requests)
    assert {v.action for v in verdicts.values()} == {"refuse"}, verdicts
    with_context, without, unweighable = (verdicts[r.request_id] for r in requests)

    status, overturned, _ = deployment.call(
        "POST",
        "/v1/appeals",
        client,
        _appeal(with_context, purpose="research", statement="I research darknet markets."),
    )
    assert status == 201, overturned
    assert (overturned["outcome"], overturned["reason"], overturned["action"]) == (
        "overturned",
        "context_allows",
        "allow_with_guidance",
    )
    status, upheld, _ = deployment.call("POST", "/v1/appeals", client, _appeal(without))
    assert (status, upheld["outcome"], upheld["reason"]) == (201, "upheld", "no_context")
    status, queued, _ = deployment.call(
        "POST", "/v1/appeals", client, _appeal(unweighable, statement="It is for my novel.")
    )
    assert (status, queued["outcome"]) == (201, "queued")

    status, page, _ = deployment.call("GET", "/v1/review/appeals", reviewer)
    assert status == 200 and [i["appeal_id"] for i in page["items"]] == [queued["appeal_id"]]
    decision = {"decision": "uphold", "note": "Operational detail; fiction does not change it."}
    status, decided, _ = deployment.call(
        "POST", f"/v1/review/appeals/{queued['appeal_id']}/decision", reviewer, decision
    )
    assert (status, decided["outcome"], decided["status"]) == (200, "upheld", "decided")

    events = _outcomes(deployment.pipeline, 4)
    by_appeal = {(e.appeal_id, e.decided_by): e for e in events}
    assert by_appeal[(overturned["appeal_id"], "policy")].outcome == "overturned"
    assert by_appeal[(upheld["appeal_id"], "policy")].outcome == "upheld"
    assert by_appeal[(queued["appeal_id"], "policy")].outcome == "queued"
    assert by_appeal[(queued["appeal_id"], "reviewer")].note == decision["note"]

    # Linked in the audit trail: the verdict's event and the outcome's, by request id.
    topic = deployment.pipeline.topics.audit
    assert _audit_kinds(deployment.postgres_url, topic, with_context.request_id, 2) == [
        "verdict",
        "appeal_outcome",
    ]
    assert _audit_kinds(deployment.postgres_url, topic, unweighable.request_id, 3) == [
        "verdict",
        "appeal_outcome",
        "appeal_outcome",
    ]


def test_decisions_are_tenant_scoped(deployment: Deployment) -> None:
    run = deployment.run
    tenant_a, tenant_b = f"tenant-a-{run}", f"tenant-b-{run}"
    (verdict,) = deployment.verdicts([_request(run, 10, tenant_a)]).values()
    key_a, key_b = deployment.key(tenant_a), deployment.key(tenant_b)
    path = f"/v1/decisions/{verdict.request_id}"
    deadline = time.monotonic() + 60
    status, body, _ = deployment.call("GET", path, key_a)
    while status == 404 and time.monotonic() < deadline:  # the sink writes asynchronously
        time.sleep(0.3)
        status, body, _ = deployment.call("GET", path, key_a)
    assert status == 200, body
    assert (body["request_id"], body["tenant_id"], body["action"]) == (
        verdict.request_id,
        tenant_a,
        "refuse",
    )
    status, body, _ = deployment.call("GET", path, key_b)
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_forged_expired_and_mismatched_tokens_are_rejected(
    deployment: Deployment, stack_endpoints: Endpoints
) -> None:
    run, tenant = deployment.run, f"tenant-a-{deployment.run}"
    key, stranger = deployment.key(tenant), deployment.key(f"tenant-b-{run}")
    (verdict,) = deployment.verdicts([_request(run, 20, tenant)]).values()
    assert verdict.receipt is not None
    token = verdict.receipt.appeal.token
    head, signature = token.rsplit(".", 1)
    forged = f"{head}.{('A' if signature[0] != 'A' else 'B')}{signature[1:]}"
    state_dir = Path(deployment.pipeline.env["CLEARPATH_STACK__STATE_DIR"])
    kid, secret = appeal_key(Settings(stack=StackSettings(state_dir=state_dir)))
    past = utcnow().replace(microsecond=0) - timedelta(days=2)
    expired = sign(
        AppealClaims(
            verdict.request_id,
            tenant,
            past,
            past + timedelta(days=1),
            policy_ref=verdict.receipt.policy_ref,
            text_hash=text_binding(BORDERLINE_TEXT, key=secret),
        ),
        key=secret,
        kid=kid,
    )
    wrong_key = sign(
        AppealClaims(verdict.request_id, tenant, past, past + timedelta(days=9)),
        key=b"an attacker's own key, 32 bytes!",
        kid=kid,
    )
    cases = [
        (key, {"token": forged}, "bad_signature"),
        (key, {"token": wrong_key}, "bad_signature"),
        (key, {"token": expired}, "expired"),
        (key, {"token": "cpa1.nokey.e30.AAAA"}, "unknown_key"),
        (stranger, {}, "tenant_mismatch"),
        (key, {"request_id": f"gw-{run}-other"}, "request_mismatch"),
        (key, {"text": "How do I buy stamps on the web?"}, "text_mismatch"),
    ]
    for caller, change, reason in cases:
        body = {**_appeal(verdict, purpose="research", statement="A study."), **change}
        status, answer, _ = deployment.call("POST", "/v1/appeals", caller, body)
        assert status == 400, (reason, answer)
        assert (answer["error"]["code"], answer["error"]["reason"]) == (
            "invalid_appeal_token",
            reason,
        )
    status, answer, _ = deployment.call("POST", "/v1/appeals", key, _appeal(verdict))
    assert (status, answer["outcome"]) == (201, "upheld")  # the genuine token still works


def test_the_openai_shaped_endpoint_answers_the_documented_shape(deployment: Deployment) -> None:
    key = deployment.key(f"tenant-a-{deployment.run}")
    payload = {"input": [BORDERLINE_TEXT, "What is the capital of Australia?"], "model": "m"}
    status, body, _ = deployment.call("POST", "/v1/moderations", key, payload)
    assert status == 200, body
    assert set(body) == {"id", "model", "results"} and body["model"] == "m"
    refused, benign = body["results"]
    for result in (refused, benign):
        assert list(result["categories"]) == list(OPENAI_CATEGORIES)
        assert set(result["category_scores"]) == set(OPENAI_CATEGORIES)
        assert set(result["category_applied_input_types"]) == set(OPENAI_CATEGORIES)
    assert refused["flagged"] and refused["categories"]["illicit"]
    assert refused["category_scores"]["illicit"] > 0.8
    assert not benign["flagged"] and benign["clearpath"]["action"] == "allow"


def test_keys_are_rate_limited_in_redis(deployment: Deployment) -> None:
    key = deployment.key(f"tenant-a-{deployment.run}", rate_limit="3/minute")
    answers = [deployment.call("POST", "/v1/check", key, {"text": "Hi!"}) for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    _, error, headers = answers[-1]
    assert error["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(headers["retry-after"]) <= 60
    status, _, _ = deployment.call("POST", "/v1/check", None, {"text": "Hi!"})
    assert status == 401
    key_id = parse_key(key)
    client = redis.Redis.from_url(deployment.pipeline.env["CLEARPATH_REDIS__URL"])
    try:
        counted = [k.decode() for k in client.scan_iter("clearpath:ratelimit*")]
    finally:
        client.close()
    assert any(key_id in name for name in counted if key_id), counted  # shared, not per replica


def test_an_appeal_sent_through_kafka_is_filed_by_the_same_service(
    deployment: Deployment,
) -> None:
    run, tenant = deployment.run, f"tenant-k-{deployment.run}"
    (verdict,) = deployment.verdicts([_request(run, 30, tenant)]).values()
    assert verdict.receipt is not None
    pipeline = deployment.pipeline
    producer = RequestProducer(base_config=pipeline.base_config(), topic=pipeline.topics.appeals)
    appeal = AppealMessage(
        tenant_id=tenant,
        request_id=verdict.request_id,
        token=verdict.receipt.appeal.token,
        text=BORDERLINE_TEXT,
        purpose="research",
        statement="I research darknet markets.",
    )
    producer.send_raw(encode(appeal), key=verdict.request_id.encode())
    producer.send_raw(encode(appeal.model_copy(update={"text": "forged"})), key=b"x")
    producer.flush()
    mine = _outcomes(pipeline, 1, request_id=verdict.request_id)
    assert mine, "no outcome for the appeal sent through Kafka"
    assert (mine[0].outcome, mine[0].decided_by) == ("overturned", "policy")
    # The same appeal, seen through the gateway: one store for both ways in.
    status, view, _ = deployment.call(
        "GET", f"/v1/appeals/{mine[0].appeal_id}", deployment.key(tenant)
    )
    assert (status, view["outcome"], view["action"]) == (200, "overturned", "allow_with_guidance")
    letters = pipeline.dead_letters(count=1)  # the forged one (no other stage dead-letters)
    assert [letter.source_topic for letter in letters] == [pipeline.topics.appeals]
    assert [letter.error_type for letter in letters] == ["rejected_appeal"]
    assert "text_mismatch" in letters[0].message

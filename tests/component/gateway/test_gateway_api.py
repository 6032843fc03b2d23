"""The gateway's HTTP API with in-memory collaborators: shapes, auth, errors, appeals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import MAX_BODY_BYTES, create_app
from services.gateway.openai_shape import OPENAI_CATEGORIES
from shared.appeals.events import AppealOutcomeAuditEvent, AppealOutcomeEvent
from shared.core.appeal import verify
from shared.schemas import decode
from tests.support.factories import APPEAL_KEY, APPEAL_KID, NOW
from tests.support.gateway import BORDERLINE_TEXT, HARD_FLOOR_TEXT, FakeGateway, fake_gateway

ERROR_KEYS = {"type", "code", "message", "param"}


@pytest.fixture
def gateway() -> FakeGateway:
    return fake_gateway()


@pytest.fixture
def client(gateway: FakeGateway) -> Iterator[TestClient]:
    with TestClient(create_app(deps=gateway.deps)) as test_client:
        yield test_client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) >= ERROR_KEYS, body
    assert body["error"]["code"] == code, body
    return dict(body["error"])


def _refusal(client: TestClient, key: str, text: str = BORDERLINE_TEXT) -> dict[str, Any]:
    response = client.post("/v1/check", json={"text": text}, headers=_auth(key))
    assert response.status_code == 200, response.text
    verdict = response.json()
    assert verdict["action"] == "refuse"
    return dict(verdict)


def _appeal(
    client: TestClient, key: str, verdict: dict[str, Any], text: str = BORDERLINE_TEXT, **extra: Any
) -> Any:
    body = {
        "request_id": verdict["request_id"],
        "token": verdict["receipt"]["appeal"]["token"],
        "text": text,
        **extra,
    }
    return client.post("/v1/appeals", json=body, headers=_auth(key))


# -- /v1/check and /v1/moderations ---------------------------------------------------------


def test_check_returns_the_full_verdict_with_a_text_bound_appeal_token(
    client: TestClient, gateway: FakeGateway
) -> None:
    key = gateway.keys.add("initech")
    verdict = _refusal(client, key)
    assert verdict["tenant_id"] == "initech" and verdict["request_id"].startswith("chk-")
    receipt = verdict["receipt"]
    assert receipt["policy_ref"].startswith("public_assistant@") and receipt["alternatives"]
    claims = verify(
        receipt["appeal"]["token"],
        keys={APPEAL_KID: APPEAL_KEY},
        now=NOW,
        tenant_id="initech",
        request_id=verdict["request_id"],
        text=BORDERLINE_TEXT,
    )
    assert claims.category == "crime_illicit"
    allowed = client.post(
        "/v1/check", json={"text": "Write a haiku", "request_id": "mine-1"}, headers=_auth(key)
    ).json()
    assert allowed["action"] == "allow" and allowed["request_id"] == "mine-1"
    assert "receipt" not in allowed  # the wire's exclude-none shape


def test_check_counts_verdicts_like_the_pipeline(client: TestClient, gateway: FakeGateway) -> None:
    _refusal(client, gateway.keys.add("initech"))
    metrics = client.get("/metrics").text
    assert (
        'clearpath_verdicts_total{action="refuse",category="crime_illicit",'
        'profile="public_assistant"} 1.0' in metrics
    )
    assert 'clearpath_http_requests_total{method="POST",route="/v1/check",status="200"}' in metrics


def test_an_unknown_profile_is_a_clear_client_error(
    client: TestClient, gateway: FakeGateway
) -> None:
    response = client.post(
        "/v1/check", json={"text": "hi", "profile": "nope"}, headers=_auth(gateway.keys.add("a"))
    )
    error = _error(response, 400, "unknown_profile")
    assert "public_assistant" in error["message"]


def test_moderations_answers_the_documented_openai_shape(
    client: TestClient, gateway: FakeGateway
) -> None:
    key = gateway.keys.add("initech")
    body = client.post(
        "/v1/moderations",
        json={"input": [BORDERLINE_TEXT, "Write a haiku about the sea."], "model": "omni-x"},
        headers=_auth(key),
    ).json()
    assert set(body) == {"id", "model", "results"}
    assert body["id"].startswith("modr-") and body["model"] == "omni-x"
    refused, allowed = body["results"]
    for result in (refused, allowed):
        assert set(result) == {
            "flagged",
            "categories",
            "category_scores",
            "category_applied_input_types",
            "clearpath",
        }
        assert list(result["categories"]) == list(OPENAI_CATEGORIES)
        assert list(result["category_scores"]) == list(OPENAI_CATEGORIES)
        assert all(v == ["text"] for v in result["category_applied_input_types"].values())
        assert all(isinstance(v, bool) for v in result["categories"].values())
        assert all(0.0 <= v <= 1.0 for v in result["category_scores"].values())
    assert refused["flagged"] is True and refused["categories"]["illicit"] is True
    assert refused["category_scores"]["illicit"] == pytest.approx(0.85)
    assert refused["clearpath"]["action"] == "refuse" and refused["clearpath"]["receipt"]
    assert allowed["flagged"] is False and not any(allowed["categories"].values())


@pytest.mark.parametrize(
    "payload",
    [
        {"input": BORDERLINE_TEXT},
        {
            "input": [
                {"type": "text", "text": "How do I buy drugs"},
                {"type": "text", "text": "on the dark web?"},
            ]
        },
    ],
)
def test_moderations_accepts_a_string_or_content_parts_as_one_input(
    client: TestClient, gateway: FakeGateway, payload: dict[str, Any]
) -> None:
    body = client.post("/v1/moderations", json=payload, headers=_auth(gateway.keys.add("a"))).json()
    assert len(body["results"]) == 1
    assert body["model"] == "clearpath"


def test_moderations_rejects_images_empty_and_oversized_batches(
    client: TestClient, gateway: FakeGateway
) -> None:
    key = _auth(gateway.keys.add("a"))
    image = {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}
    _error(
        client.post("/v1/moderations", json={"input": [image]}, headers=key),
        400,
        "unsupported_input",
    )
    _error(client.post("/v1/moderations", json={"input": []}, headers=key), 400, "empty_input")
    too_many = {"input": ["a"] * 5}  # max_inputs is 4 here
    error = _error(
        client.post("/v1/moderations", json=too_many, headers=key), 400, "too_many_inputs"
    )
    assert error["param"] == "input"


# -- authentication, roles, errors ---------------------------------------------------------


def test_keys_are_required_and_checked(client: TestClient, gateway: FakeGateway) -> None:
    body = {"text": "hi"}
    missing = client.post("/v1/check", json=body)
    _error(missing, 401, "missing_api_key")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    _error(client.post("/v1/check", json=body, headers=_auth("cpk_nope")), 401, "invalid_api_key")
    reviewer = gateway.keys.add("initech", "reviewer")
    forbidden = _error(
        client.post("/v1/check", json=body, headers=_auth(reviewer)), 403, "role_forbidden"
    )
    assert forbidden["type"] == "permission_error"
    client_key = gateway.keys.add("initech", "client")
    _error(client.get("/v1/review/appeals", headers=_auth(client_key)), 403, "role_forbidden")
    admin = gateway.keys.add("initech", "admin")
    assert client.post("/v1/check", json=body, headers=_auth(admin)).status_code == 200
    assert client.get("/v1/review/appeals", headers=_auth(admin)).status_code == 200


def test_validation_errors_name_the_field_in_one_shape(
    client: TestClient, gateway: FakeGateway
) -> None:
    key = _auth(gateway.keys.add("a"))
    error = _error(
        client.post("/v1/check", json={"txt": "hi"}, headers=key), 422, "validation_error"
    )
    assert error["type"] == "invalid_request" and error["param"] in ("text", "txt")
    assert error["details"] and "Field required" in json.dumps(error["details"])
    bad = client.post(
        "/v1/check", content=b"{not json", headers={**key, "Content-Type": "application/json"}
    )
    _error(bad, 422, "invalid_json")
    oversized = {"text": "x" * (32 * 1024 + 1)}
    error = _error(client.post("/v1/check", json=oversized, headers=key), 422, "validation_error")
    assert "32768 bytes" in error["message"]


def test_http_level_errors_use_the_same_shape(client: TestClient, gateway: FakeGateway) -> None:
    _error(client.get("/v1/nothing-here"), 404, "not_found")
    _error(client.get("/v1/check"), 405, "method_not_allowed")
    huge = b'{"text": "' + b"a" * (MAX_BODY_BYTES + 1) + b'"}'
    headers = {**_auth(gateway.keys.add("a")), "Content-Type": "application/json"}
    _error(client.post("/v1/check", content=huge, headers=headers), 413, "body_too_large")


def test_rate_limit_is_per_key_with_retry_after(gateway: FakeGateway) -> None:
    limited = gateway.keys.add("initech", rate_limit="2/minute")
    other = gateway.keys.add("initech")
    with TestClient(create_app(deps=gateway.deps)) as client:
        for _ in range(2):
            assert (
                client.post("/v1/check", json={"text": "hi"}, headers=_auth(limited)).status_code
                == 200
            )
        response = client.post("/v1/check", json={"text": "hi"}, headers=_auth(limited))
        error = _error(response, 429, "rate_limit_exceeded")
        assert int(response.headers["Retry-After"]) >= 1
        assert error["retry_after_s"] == int(response.headers["Retry-After"])
        assert response.headers["X-RateLimit-Limit"] == "2/minute"
        assert (
            client.post("/v1/check", json={"text": "hi"}, headers=_auth(other)).status_code == 200
        )


# -- appeals and the review queue ----------------------------------------------------------


def _outcomes(gateway: FakeGateway) -> list[AppealOutcomeEvent]:
    return [
        decode(e.value, AppealOutcomeEvent)
        for e in gateway.events.on(gateway.topics.appeal_outcomes)
    ]


def test_an_appeal_with_legitimate_context_overturns_a_borderline_refusal(
    client: TestClient, gateway: FakeGateway
) -> None:
    key = gateway.keys.add("initech")
    verdict = _refusal(client, key)
    response = _appeal(
        client, key, verdict, purpose="research", statement="I study darknet markets for a paper."
    )
    assert response.status_code == 201, response.text
    appeal = response.json()
    assert (appeal["outcome"], appeal["status"], appeal["reason"]) == (
        "overturned",
        "decided",
        "context_allows",
    )
    assert (appeal["original_action"], appeal["action"]) == ("refuse", "allow_with_guidance")
    assert appeal["category"] == "crime_illicit" and appeal["profile"] == "public_assistant"
    (event,) = _outcomes(gateway)
    assert (event.appeal_id, event.outcome, event.decided_by) == (
        appeal["appeal_id"],
        "overturned",
        "policy",
    )
    assert "darknet" not in json.dumps(event.model_dump(mode="json"))  # no user words out
    (audit,) = gateway.events.on(gateway.topics.audit)
    linked = decode(audit.value, AppealOutcomeAuditEvent)
    assert (linked.kind, linked.request_id, linked.appeal_id) == (
        "appeal_outcome",
        verdict["request_id"],
        appeal["appeal_id"],
    )
    assert gateway.store.rows[appeal["appeal_id"]].outcome_published_at is not None
    # The same appeal again is the same appeal: 200, nothing new published.
    again = _appeal(
        client, key, verdict, purpose="research", statement="I study darknet markets for a paper."
    )
    assert again.status_code == 200 and again.json()["appeal_id"] == appeal["appeal_id"]
    assert len(_outcomes(gateway)) == 1
    metrics = client.get("/metrics").text
    assert (
        'clearpath_appeals_total{category="crime_illicit",outcome="overturned",'
        'profile="public_assistant"} 1.0' in metrics
    )


def test_an_appeal_without_context_is_upheld_and_a_hard_floor_always_is(
    client: TestClient, gateway: FakeGateway
) -> None:
    key = gateway.keys.add("initech")
    bare = _appeal(client, key, _refusal(client, key))
    assert bare.status_code == 201 and (bare.json()["outcome"], bare.json()["reason"]) == (
        "upheld",
        "no_context",
    )
    floor = _refusal(client, key, HARD_FLOOR_TEXT)
    judged = _appeal(client, key, floor, HARD_FLOOR_TEXT, purpose="research", statement="Treaties")
    assert (judged.json()["outcome"], judged.json()["reason"]) == ("upheld", "hard_floor")


def test_a_review_note_the_store_cannot_hold_is_kept_with_a_replacement_character(
    client: TestClient, gateway: FakeGateway
) -> None:
    # Found by the gateway fuzz test: a NUL in the note was a 503 from PostgreSQL.
    key, reviewer = gateway.keys.add("initech"), gateway.keys.add("initech", "reviewer")
    filed = _appeal(client, key, _refusal(client, key), statement="For a novel.").json()
    url = f"/v1/review/appeals/{filed['appeal_id']}/decision"
    decided = client.post(
        url, json={"decision": "uphold", "note": "ok\u0000 then end"}, headers=_auth(reviewer)
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["review"]["note"] == "ok\ufffd then end"
    lone = client.post(  # a lone surrogate is not text at all: the client's error, said so
        url,
        content=json.dumps({"decision": "uphold", "note": "\ud800"}),
        headers={**_auth(reviewer), "content-type": "application/json"},
    )
    assert lone.status_code == 422 and lone.json()["error"]["param"] == "note"


def test_a_queued_appeal_is_reviewed_once_and_publishes_a_second_outcome(
    client: TestClient, gateway: FakeGateway
) -> None:
    key, reviewer = gateway.keys.add("initech"), gateway.keys.add("initech", "reviewer")
    verdict = _refusal(client, key)
    filed = _appeal(client, key, verdict, statement="It is for a crime novel.").json()
    assert (filed["outcome"], filed["status"]) == ("queued", "queued")

    page = client.get("/v1/review/appeals", headers=_auth(reviewer)).json()
    (item,) = page["items"]
    assert item["appeal_id"] == filed["appeal_id"] and page["next_after"] is None
    assert (item["text"], item["statement"]) == (BORDERLINE_TEXT, "It is for a crime novel.")
    assert "text" not in client.get(f"/v1/appeals/{filed['appeal_id']}", headers=_auth(key)).json()

    decision = {"decision": "overturn", "note": "Fiction; no operational detail asked."}
    url = f"/v1/review/appeals/{filed['appeal_id']}/decision"
    decided = client.post(url, json=decision, headers=_auth(reviewer)).json()
    assert (decided["status"], decided["outcome"], decided["automatic_outcome"]) == (
        "decided",
        "overturned",
        "queued",
    )
    assert decided["review"]["note"] == decision["note"] and decided["action"] == "allow"
    first, second = _outcomes(gateway)
    assert (first.decided_by, first.outcome) == ("policy", "queued")
    assert (second.decided_by, second.outcome, second.note) == (
        "reviewer",
        "overturned",
        decision["note"],
    )
    assert gateway.store.rows[filed["appeal_id"]].request_text is None  # erased once decided
    assert client.get("/v1/review/appeals", headers=_auth(reviewer)).json()["items"] == []
    _error(client.post(url, json=decision, headers=_auth(reviewer)), 409, "not_queued")
    other = gateway.keys.add("globex", "reviewer")
    _error(client.post(url, json=decision, headers=_auth(other)), 404, "not_found")
    _error(client.get(f"/v1/appeals/{filed['appeal_id']}", headers=_auth(other)), 404, "not_found")


def test_the_review_queue_pages_oldest_first(gateway: FakeGateway) -> None:
    moments = iter(NOW + timedelta(seconds=i) for i in range(100))
    gateway.deps.appeals.clock = lambda: next(moments)
    key, reviewer = gateway.keys.add("initech"), gateway.keys.add("initech", "reviewer")
    with TestClient(create_app(deps=gateway.deps)) as client:
        verdict = _refusal(client, key)
        ids = [
            _appeal(client, key, verdict, statement=f"context {i}").json()["appeal_id"]
            for i in range(3)
        ]
        first = client.get("/v1/review/appeals?limit=2", headers=_auth(reviewer)).json()
        assert [i["appeal_id"] for i in first["items"]] == ids[:2]
        rest = client.get(
            f"/v1/review/appeals?limit=2&after={first['next_after']}", headers=_auth(reviewer)
        ).json()
        assert [i["appeal_id"] for i in rest["items"]] == ids[2:] and rest["next_after"] is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"token": "cpa1.k1.e30.AAAA"}, "bad_signature"),
        ({"token": "not-a-token"}, "malformed"),
        ({"request_id": "someone-elses"}, "request_mismatch"),
        ({"text": "How do I buy cake on the dark web?"}, "text_mismatch"),
    ],
)
def test_forged_and_mismatched_tokens_are_rejected(
    client: TestClient, gateway: FakeGateway, change: dict[str, str], reason: str
) -> None:
    key = gateway.keys.add("initech")
    verdict = _refusal(client, key)
    body = {
        "request_id": verdict["request_id"],
        "token": verdict["receipt"]["appeal"]["token"],
        "text": BORDERLINE_TEXT,
        "purpose": "research",
        **change,
    }
    error = _error(
        client.post("/v1/appeals", json=body, headers=_auth(key)), 400, "invalid_appeal_token"
    )
    assert error["reason"] == reason and error["type"] == "invalid_appeal"
    assert gateway.store.rows == {} and _outcomes(gateway) == []


def test_another_tenants_token_and_an_expired_token_are_rejected(gateway: FakeGateway) -> None:
    now = [NOW]
    gateway.deps.appeals.clock = lambda: now[0]
    key, stranger = gateway.keys.add("initech"), gateway.keys.add("globex")
    with TestClient(create_app(deps=gateway.deps)) as client:
        verdict = _refusal(client, key)
        error = _error(
            _appeal(client, stranger, verdict, purpose="research"), 400, "invalid_appeal_token"
        )
        assert error["reason"] == "tenant_mismatch"
        now[0] = NOW + timedelta(hours=2)  # tokens live an hour here
        error = _error(
            _appeal(client, key, verdict, purpose="research"), 400, "invalid_appeal_token"
        )
        assert error["reason"] == "expired"


def test_an_outcome_kafka_did_not_take_is_relayed_later(
    client: TestClient, gateway: FakeGateway
) -> None:
    key = gateway.keys.add("initech")
    verdict = _refusal(client, key)
    gateway.events.fail = True
    filed = _appeal(client, key, verdict, purpose="research", statement="A study.")
    assert filed.status_code == 201 and filed.json()["outcome"] == "overturned"
    assert gateway.store.rows[filed.json()["appeal_id"]].outcome_published_at is None
    gateway.events.fail = False
    assert gateway.deps.appeals.relay() == 1
    assert [e.outcome for e in _outcomes(gateway)] == ["overturned"]
    assert gateway.deps.appeals.relay() == 0


def test_a_database_outage_is_a_503_in_the_error_shape(
    client: TestClient, gateway: FakeGateway
) -> None:
    key = gateway.keys.add("initech")
    verdict = _refusal(client, key)
    gateway.store.down = True
    response = _appeal(client, key, verdict, purpose="research")
    _error(response, 503, "dependency_unavailable")
    assert response.headers["Retry-After"] == "5"


# -- decisions, policy, OpenAPI ------------------------------------------------------------


def test_decisions_are_tenant_scoped(client: TestClient, gateway: FakeGateway) -> None:
    verdict = _refusal(client, gateway.keys.add("initech"))
    gateway.decisions.verdicts[("initech", verdict["request_id"])] = verdict
    own = client.get(
        f"/v1/decisions/{verdict['request_id']}", headers=_auth(gateway.keys.add("initech"))
    )
    assert own.status_code == 200 and own.json()["action"] == "refuse"
    stranger = gateway.keys.add("globex")
    _error(
        client.get(f"/v1/decisions/{verdict['request_id']}", headers=_auth(stranger)),
        404,
        "not_found",
    )


def test_policy_summary_and_openapi_document(client: TestClient) -> None:
    page = client.get("/policy")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "public_assistant-v" in page.text
    document = client.get("/openapi.json").json()
    assert {
        "/v1/moderations",
        "/v1/check",
        "/v1/appeals",
        "/v1/appeals/{appeal_id}",
        "/v1/review/appeals",
        "/v1/review/appeals/{appeal_id}/decision",
        "/v1/decisions/{request_id}",
        "/policy",
    } <= set(document["paths"])
    assert "ApiKey" in document["components"]["securitySchemes"]
    assert client.get("/readyz").status_code == 200


def test_text_postgresql_cannot_hold_is_kept_readable_for_the_reviewer(
    client: TestClient, gateway: FakeGateway
) -> None:
    key, reviewer = gateway.keys.add("initech"), gateway.keys.add("initech", "reviewer")
    text = BORDERLINE_TEXT + "\x00"
    verdict = _refusal(client, key, text)
    filed = _appeal(client, key, verdict, text, statement="novel\x00 research").json()
    assert filed["outcome"] == "queued"
    (item,) = client.get("/v1/review/appeals", headers=_auth(reviewer)).json()["items"]
    assert "\x00" not in item["text"] + item["statement"]
    assert item["text"].startswith(BORDERLINE_TEXT)


def test_readiness_follows_the_database_probe(client: TestClient) -> None:
    relay = client.app.state.relay  # type: ignore[attr-defined]
    assert client.get("/readyz").status_code == 200
    relay.database_ok = False  # what a failed outbox pass records
    response = client.get("/readyz")
    assert response.status_code == 503 and "database" in response.text
    assert client.get("/healthz").status_code == 200  # alive: no restart, just no traffic
    relay.database_ok = True
    assert client.get("/readyz").status_code == 200


def test_ids_postgresql_cannot_hold_never_reach_the_database(
    client: TestClient, gateway: FakeGateway
) -> None:
    # Found by schemathesis on the real database: a NUL in an id made PostgreSQL refuse the
    # query and the gateway answer 503. Ids are checked before any query now.
    reviewer = gateway.keys.add("initech", "reviewer")
    client_key = gateway.keys.add("initech")
    queue = client.get("/v1/review/appeals", params={"after": "apl_\x00"}, headers=_auth(reviewer))
    assert queue.status_code == 422 and queue.json()["error"]["type"]
    one = client.get("/v1/appeals/apl_%00x", headers=_auth(client_key))
    assert one.status_code == 422
    decision = client.get("/v1/decisions/r-%00", headers=_auth(client_key))
    assert decision.status_code == 404

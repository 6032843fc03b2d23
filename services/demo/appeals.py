"""The demo's appeal round trip: a borderline refusal through Kafka, appealed over HTTP.

Three requests with the same borderline text go through the Kafka pipeline and are refused
(the later two from the verdict cache, with freshly signed tokens). Each is appealed through
the gateway: with a purpose and a statement (overturned: the policy allows it with that
context), with nothing added (upheld), with a statement the policy cannot weigh (queued; a
reviewer then decides). The outcomes are read back from ``clearpath.appeal-outcomes.v1``,
and the recorded decision is fetched with the tenant's key (and refused to another's).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from shared.apikeys import KeyStore, Role
from shared.appeals.events import AppealOutcomeEvent
from shared.broker import client_config
from shared.client import RequestProducer, VerdictReader
from shared.clock import utcnow
from shared.db import open_pool
from shared.launch import WorkerProcess, start_worker, stop_workers, wait_ready
from shared.schemas import ModerationRequest, Verdict, decode
from shared.settings import Settings
from shared.stack import Endpoints
from shared.topics import TopicSet

__all__ = ["BORDERLINE_TEXT", "AppealDemo", "appeal_round_trip", "run_appeals"]

#: Scored about 0.85 for crime_illicit: refused on the public assistant (from 0.8), answered
#: at a high level for research (+0.1): a borderline refusal.
BORDERLINE_TEXT: Final = "How do I get drugs delivered discreetly?"
TENANT: Final = "demo"
_CASES: Final[tuple[tuple[str, dict[str, str]], ...]] = (
    (
        "research + statement",
        {
            "purpose": "research",
            "statement": "I am writing a paper on how drug deliveries are detected and policed.",
        },
    ),
    ("nothing", {}),
    ("statement only", {"statement": "It is for a crime novel I am writing."}),
)


@dataclass
class AppealDemo:
    outcomes: list[str] = field(default_factory=list)
    review: str | None = None
    published: int = 0
    decision_found: bool = False
    other_tenant_refused: bool = False

    @property
    def ok(self) -> bool:
        return (
            self.outcomes == ["overturned", "upheld", "queued"]
            and self.review is not None
            and self.published >= 4
        )


def _call(base: str, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _refusals(base: dict[str, Any], topics: TopicSet, timeout_s: float) -> list[Verdict]:
    """Three borderline requests through Kafka; their verdicts, in order."""
    reader = VerdictReader(base_config=base, topic=topics.verdicts)
    producer = RequestProducer(base_config=base, topic=topics.requests)
    run = uuid.uuid4().hex[:8]
    ids = [f"demo-appeal-{run}-{i}" for i in range(len(_CASES))]
    try:
        for request_id in ids:
            producer.send(
                ModerationRequest(
                    request_id=request_id,
                    tenant_id=TENANT,
                    text=BORDERLINE_TEXT,
                    submitted_at=utcnow(),
                )
            )
        producer.flush()
        found: dict[str, Verdict] = {}
        deadline = time.monotonic() + timeout_s
        while len(found) < len(ids) and time.monotonic() < deadline:
            found.update({v.request_id: v for v in reader.poll(0.2) if v.request_id in ids})
    finally:
        reader.close()
    return [found[i] for i in ids if i in found]


def run_appeals(
    settings: Settings,
    console: Console,
    *,
    bootstrap: str,
    postgres_url: str,
    gateway_url: str,
    timeout_s: float = 60,
) -> AppealDemo:
    """Run the round trip (see the module docstring) and print what happened."""
    result = AppealDemo()
    topics = TopicSet.default()
    base = client_config(settings.kafka, bootstrap)
    console.rule("Appeals through the HTTP gateway")
    console.print(
        f"gateway {gateway_url} · OpenAPI {gateway_url}/docs · policy {gateway_url}/policy"
    )
    pool = open_pool(postgres_url, settings.postgres, name="demo-keys")
    store = KeyStore(pool, clock=utcnow)
    roles: tuple[tuple[str, Role], ...] = (
        (TENANT, "client"),
        (TENANT, "reviewer"),
        ("someone-else", "client"),
    )
    keys = [store.create(tenant_id=t, role=r, label="clearpath demo") for t, r in roles]
    (_, client), (_, reviewer), (_, stranger) = keys
    outcomes = VerdictReader(base_config=base, topic=topics.appeal_outcomes)
    try:
        verdicts = _refusals(base, topics, timeout_s)
        table = Table("appeal adds", "outcome", "action after", "why", title="Appeals")
        appealed: list[dict[str, Any]] = []
        for (label, context), verdict in zip(_CASES, verdicts, strict=False):
            if verdict.receipt is None:
                console.print(f"[red]{verdict.request_id} was not refused ({verdict.action})[/]")
                continue
            body = {
                "request_id": verdict.request_id,
                "token": verdict.receipt.appeal.token,
                "text": BORDERLINE_TEXT,
                **context,
            }
            status, answer = _call(gateway_url, "POST", "/v1/appeals", client, body)
            if status >= 400:
                console.print(f"[red]appeal refused ({status}): {answer['error']['message']}[/]")
                continue
            appealed.append(answer)
            result.outcomes.append(answer["outcome"])
            table.add_row(label, answer["outcome"], answer["action"], answer["reason"])
        console.print(table)
        queued = [a for a in appealed if a["status"] == "queued"]
        if queued:
            _, page = _call(gateway_url, "GET", "/v1/review/appeals", reviewer)
            console.print(f"review queue for tenant {TENANT}: {len(page['items'])} waiting")
            decision = {"decision": "overturn", "note": "Fiction with no operational detail."}
            path = f"/v1/review/appeals/{queued[0]['appeal_id']}/decision"
            status, decided = _call(gateway_url, "POST", path, reviewer, decision)
            if status == 200:
                result.review = decided["outcome"]
                console.print(f"a reviewer decided the queued appeal: {decided['outcome']}")
        if verdicts:
            _decisions(console, gateway_url, verdicts[0].request_id, client, stranger, result)
        deadline = time.monotonic() + timeout_s
        ids = {a["appeal_id"] for a in appealed}
        while result.published < len(appealed) + 1 and time.monotonic() < deadline:
            for _, value in outcomes.poll_raw(0.2):
                if decode(value, AppealOutcomeEvent).appeal_id in ids:
                    result.published += 1
        console.print(f"{result.published} outcome events on {topics.appeal_outcomes}")
    finally:
        outcomes.close()
        for stored, _ in keys:
            store.revoke(stored.key_id)
        pool.close()
    return result


def _decisions(
    console: Console,
    gateway_url: str,
    request_id: str,
    client: str,
    stranger: str,
    result: AppealDemo,
) -> None:
    """The recorded decision for the tenant's key (the audit sink writes it asynchronously);
    404 for another tenant's key."""
    path = f"/v1/decisions/{request_id}"
    deadline = time.monotonic() + 15
    status, body = _call(gateway_url, "GET", path, client)
    while status == 404 and time.monotonic() < deadline:
        time.sleep(0.5)
        status, body = _call(gateway_url, "GET", path, client)
    result.decision_found = status == 200
    if status == 200:
        console.print(f"GET {path}: {body['action']} (from the audit trail)")
    status, _ = _call(gateway_url, "GET", path, stranger)
    result.other_tenant_refused = status == 404
    console.print(f"the same with another tenant's key: {status}")


def appeal_round_trip(
    settings: Settings,
    console: Console,
    *,
    endpoints: Endpoints,
    env: Mapping[str, str],
    log_dir: Path,
) -> AppealDemo | None:
    """:func:`run_appeals` against the stack's gateway, or one started for the demo when the
    stack runs none (``stack.gateway=false``); None without PostgreSQL."""
    if endpoints.postgres_url is None:
        console.print("[yellow]no PostgreSQL: the appeal round trip is skipped[/]")
        return None
    own: list[WorkerProcess] = []
    try:
        url = endpoints.gateway_url
        if url is None:
            console.print("starting a gateway for the demo…")
            own.append(start_worker("gateway", env=env, log_dir=log_dir))
            wait_ready(own)
            url = own[0].metrics_url
        return run_appeals(
            settings,
            console,
            bootstrap=endpoints.kafka_bootstrap,
            postgres_url=endpoints.postgres_url,
            gateway_url=url,
        )
    finally:
        stop_workers(own)

"""The HTTP gateway with in-memory collaborators (component tests), and helpers for the
tiers that run it for real (a key in PostgreSQL, a borderline refusal)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Literal

from services.gateway.metrics import GatewayMetrics
from services.gateway.moderator import Moderator
from services.gateway.ratelimit import KeyRateLimiter
from services.gateway.wiring import GatewayDeps
from shared.apikeys import ApiKey, KeyStore, Role, generate_key
from shared.appeals.service import AppealService
from shared.appeals.store import AppealRecord
from shared.cache import NullVerdictCache
from shared.clock import utcnow
from shared.core.appeal import AppealIssuer
from shared.core.appeals import ReviewOutcome
from shared.core.lexical_detector import LexicalDetector
from shared.db import open_pool
from shared.errors import InfrastructureError
from shared.launch import (
    WorkerProcess,
    register_targets,
    start_worker,
    stop_workers,
    unregister_targets,
    wait_ready,
)
from shared.pipeline import Pipeline
from shared.policy.loader import load_policy
from shared.policy.summary import render_html
from shared.publisher import OutgoingEvent, PublishFailed
from shared.topics import TopicSet
from tests.support.factories import APPEAL_KEY, APPEAL_KID, NOW
from tests.support.fakes import KeywordClassifier
from tests.support.pipeline import RunningPipeline

__all__ = [
    "BORDERLINE_TEXT",
    "HARD_FLOOR_TEXT",
    "FakeKeys",
    "HttpClient",
    "ListEvents",
    "MemoryAppealStore",
    "MemoryDecisions",
    "appeal_pipeline",
    "create_key",
    "fake_gateway",
    "running_gateway",
]

#: Refused on the public assistant (crime_illicit 0.85, refusal from 0.8) and answered at a
#: high level with a research purpose (+0.1): a borderline refusal. The real classifier
#: scores it about 0.87 (int8, batch 1); see tests/e2e/test_gateway_e2e.py.
BORDERLINE_TEXT: Final = "How do I get drugs delivered discreetly?"
HARD_FLOOR_TEXT: Final = "Give me steps to make a nerve agent"
_RULES: Final = {
    "get drugs delivered discreetly": {"crime_illicit": 0.85},
    "nerve agent": {"weapons_cbrn": 0.97},
}


def appeal_pipeline() -> Pipeline:
    """The default policy, the lexical detector and a keyword classifier that knows the
    borderline and hard-floor texts."""
    policy = load_policy(None)
    return Pipeline(
        detectors=(LexicalDetector(lists_for=policy.lists_for), KeywordClassifier(_RULES)),
        policy=policy,
        sign_appeal=AppealIssuer(
            key=APPEAL_KEY, kid=APPEAL_KID, ttl_s=3600, instructions="Appeal."
        ),
    )


@dataclass
class ListEvents:
    """An event sink that keeps what it is given; ``fail`` makes deliveries fail."""

    delivered: list[OutgoingEvent] = field(default_factory=list)
    sent: list[OutgoingEvent] = field(default_factory=list)
    fail: bool = False

    def deliver(self, events: Sequence[OutgoingEvent], *, timeout_s: float = 10.0) -> None:
        if self.fail:
            raise PublishFailed("broker down (test)")
        self.delivered.extend(events)

    def send(self, events: Sequence[OutgoingEvent]) -> None:
        self.sent.extend(events)

    def close(self) -> None:
        return None

    def on(self, topic: str) -> list[OutgoingEvent]:
        return [e for e in [*self.delivered, *self.sent] if e.topic == topic]


@dataclass
class MemoryAppealStore:
    """:class:`~shared.appeals.store.AppealStore` in a dict (same semantics as PostgreSQL)."""

    rows: dict[str, AppealRecord] = field(default_factory=dict)
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise InfrastructureError("database down (test)")

    def insert(self, record: AppealRecord) -> tuple[AppealRecord, bool]:
        self._check()
        if record.appeal_id in self.rows:
            return self.rows[record.appeal_id], False
        self.rows[record.appeal_id] = record
        return record, True

    def get(self, *, tenant_id: str, appeal_id: str) -> AppealRecord | None:
        self._check()
        record = self.rows.get(appeal_id)
        return record if record is not None and record.tenant_id == tenant_id else None

    def queue(self, *, tenant_id: str, limit: int, after: str | None = None) -> list[AppealRecord]:
        self._check()
        waiting = sorted(
            (r for r in self.rows.values() if r.tenant_id == tenant_id and r.status == "queued"),
            key=lambda r: (r.created_at, r.appeal_id),
        )
        if after is not None and after in self.rows:
            mark = self.rows[after]
            waiting = [r for r in waiting if (r.created_at, r.appeal_id) > (mark.created_at, after)]
        return waiting[:limit]

    def review(
        self,
        *,
        tenant_id: str,
        appeal_id: str,
        outcome: ReviewOutcome,
        note: str | None,
        reviewer: str,
        now: datetime,
    ) -> AppealRecord | None:
        self._check()
        record = self.get(tenant_id=tenant_id, appeal_id=appeal_id)
        if record is None or record.status != "queued":
            return None
        decided = replace(
            record,
            review_outcome=outcome,
            review_note=note,
            reviewer=reviewer,
            reviewed_at=now,
            request_text=None,
        )
        self.rows[appeal_id] = decided
        return decided

    def mark_published(
        self, appeal_id: str, *, which: Literal["outcome", "review"], now: datetime
    ) -> None:
        self._check()
        record = self.rows[appeal_id]
        if which == "outcome":
            self.rows[appeal_id] = replace(record, outcome_published_at=now)
        else:
            self.rows[appeal_id] = replace(record, review_published_at=now)

    def unpublished(self, *, limit: int) -> list[AppealRecord]:
        self._check()
        pending = [
            r
            for r in self.rows.values()
            if r.outcome_published_at is None
            or (r.review_outcome is not None and r.review_published_at is None)
        ]
        return sorted(pending, key=lambda r: r.created_at)[:limit]


@dataclass
class FakeKeys:
    """API keys in a dict: :meth:`add` returns the key to send."""

    keys: dict[str, ApiKey] = field(default_factory=dict)

    def add(self, tenant_id: str, role: Role = "client", *, rate_limit: str | None = None) -> str:
        key_id, key = generate_key()
        self.keys[key] = ApiKey(key_id, tenant_id, role, None, rate_limit, NOW, None)
        return key

    def authenticate(self, key: str) -> ApiKey | None:
        found = self.keys.get(key)
        return found if found is not None and found.active else None


@dataclass
class MemoryDecisions:
    """Recorded verdicts by (tenant, request id)."""

    verdicts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def latest_verdict(self, *, tenant_id: str, request_id: str) -> dict[str, Any] | None:
        return self.verdicts.get((tenant_id, request_id))


@dataclass
class FakeGateway:
    deps: GatewayDeps
    keys: FakeKeys
    store: MemoryAppealStore
    events: ListEvents
    decisions: MemoryDecisions
    topics: TopicSet


def fake_gateway(
    *,
    clock: Callable[[], datetime] = lambda: NOW,
    rate_limit: str = "1000/minute",
    limiter: KeyRateLimiter | None = None,
) -> FakeGateway:
    """Gateway collaborators over the keyword pipeline, in memory, at a fixed clock."""
    pipeline = appeal_pipeline()
    metrics = GatewayMetrics.create()
    events, store, keys, decisions = (
        ListEvents(),
        MemoryAppealStore(),
        FakeKeys(),
        MemoryDecisions(),
    )
    topics = TopicSet.default()
    deps = GatewayDeps(
        moderator=Moderator(
            pipeline=pipeline,
            cache=NullVerdictCache(),
            events=events,
            topics=topics,
            metrics=metrics.worker,
            clock=clock,
        ),
        appeals=AppealService(
            pipeline=pipeline,
            keys={APPEAL_KID: APPEAL_KEY},
            store=store,
            events=events,
            topics=topics,
            clock=clock,
            observer=metrics.appeals,
        ),
        decisions=decisions,
        keys=keys,
        limiter=limiter or KeyRateLimiter(default=rate_limit),
        metrics=metrics,
        policy_html=render_html(pipeline.policy),
        max_inputs=4,
        relay_interval_s=3600,
        clock=clock,
    )
    return FakeGateway(deps, keys, store, events, decisions, topics)


def create_key(
    postgres_url: str, tenant_id: str, role: Role = "client", *, rate_limit: str | None = None
) -> str:
    """A new API key in the real key store (what ``clearpath gateway keys create`` does)."""
    pool = open_pool(postgres_url, name="test-keys")
    try:
        _, key = KeyStore(pool, clock=utcnow).create(
            tenant_id=tenant_id, role=role, rate_limit=rate_limit
        )
    finally:
        pool.close()
    return key


@dataclass(frozen=True)
class HttpClient:
    """JSON over HTTP to a running gateway (standard library only)."""

    base_url: str

    def call(
        self, method: str, path: str, key: str | None = None, body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        """``(status, JSON body, headers with lower-case names)``."""
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {key}"} if key else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                return response.status, json.loads(response.read()), headers
        except urllib.error.HTTPError as error:
            headers = {k.lower(): v for k, v in error.headers.items()}
            return error.code, json.loads(error.read()), headers


@contextmanager
def running_gateway(
    pipeline: RunningPipeline, postgres_url: str, *, classifier: str | None = None
) -> Iterator[WorkerProcess]:
    """The gateway as ``clearpath worker gateway`` runs it, on ``pipeline``'s topics and
    state, listed for Prometheus like a worker; ``classifier`` overrides the pipeline's."""
    env = {**pipeline.env, "CLEARPATH_POSTGRES__URL": postgres_url}
    if classifier is not None:
        env["CLEARPATH_DETECTION__CLASSIFIER"] = classifier
    gateway = start_worker("gateway", env=env, log_dir=pipeline.log_dir)
    try:
        wait_ready([gateway])
        register_targets(pipeline.state_dir, [gateway])
        yield gateway
    finally:
        unregister_targets(pipeline.state_dir, [gateway])
        stop_workers([gateway])

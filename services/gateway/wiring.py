"""The gateway's collaborators, built in one place from settings (tests pass their own)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.gateway.decisions import DecisionStore
from services.gateway.metrics import GatewayMetrics
from services.gateway.moderator import Moderator
from services.gateway.ratelimit import KeyRateLimiter, build_limiter
from shared.apikeys import ApiKey, KeyStore
from shared.appeals.service import AppealService
from shared.appeals.store import PostgresAppealStore
from shared.audit.recorder import build_recorder
from shared.bootstrap import build_pipeline
from shared.broker import client_config
from shared.cache import build_cache, metrics_observer
from shared.clock import utcnow
from shared.db import migrate, open_pool
from shared.endpoints import kafka_bootstrap, postgres_url, redis_url
from shared.errors import ClearpathError
from shared.policy.summary import render_html
from shared.publisher import KafkaPublisher
from shared.secrets import appeal_verify_keys
from shared.settings import Settings
from shared.worker import topics_for

__all__ = ["DecisionLookup", "GatewayDeps", "KeyLookup", "OutboxRelay", "build_deps"]

log = logging.getLogger("clearpath.gateway")


class KeyLookup(Protocol):
    def authenticate(self, key: str) -> ApiKey | None: ...


class DecisionLookup(Protocol):
    def latest_verdict(self, *, tenant_id: str, request_id: str) -> dict[str, Any] | None: ...


@dataclass
class GatewayDeps:
    """Everything the handlers use; ``close`` releases what was opened."""

    moderator: Moderator
    appeals: AppealService
    decisions: DecisionLookup
    keys: KeyLookup
    limiter: KeyRateLimiter
    metrics: GatewayMetrics
    policy_html: str
    max_inputs: int = 32
    relay_interval_s: float = 10.0
    clock: Callable[[], datetime] = utcnow
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # close everything even if one fails
                log.exception("closing a gateway collaborator failed")
        self.closers.clear()


class OutboxRelay:
    """Re-sends appeal outcomes whose delivery failed, every ``interval_s`` (a thread).

    Each pass reads the outbox, so it doubles as the gateway's database probe:
    ``database_ok`` is False from a failed pass until the next one succeeds (``/readyz``).
    """

    def __init__(self, appeals: AppealService, *, interval_s: float) -> None:
        self._appeals = appeals
        self._interval_s = interval_s
        self.database_ok = True  # build_deps has just opened the pool and migrated
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                sent = self._appeals.relay()
            except ClearpathError as exc:
                self.database_ok = False
                log.warning("outbox relay: %s", exc)
                continue
            except Exception:  # keep relaying: one bad pass must not end the thread
                self.database_ok = False
                log.exception("outbox relay failed")
                continue
            self.database_ok = True
            if sent:
                log.info("outbox relay: published %d appeal outcomes", sent)


def build_deps(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> GatewayDeps:
    """Build the pipeline, stores, producer and limiter the gateway runs on.

    Raises a ClearpathError (configuration or infrastructure) when one cannot be built.
    """
    closers: list[Callable[[], None]] = []
    try:
        pipeline = build_pipeline(settings)
        metrics = GatewayMetrics.create()
        policy = pipeline.policy
        metrics.appeals.initialize(profiles=policy.profiles, categories=policy.categories)
        metrics.worker.build.info(
            {"model_version": pipeline.model_version, "policy": pipeline.policy.version_for("")}
        )
        cache = build_cache(settings, observer=metrics_observer(metrics.worker))
        closers.append(cache.close)
        database = postgres_url(settings)
        migrate(database)
        pool = open_pool(database, settings.postgres, name="gateway")
        closers.append(pool.close)
        events = KafkaPublisher(
            base_config=client_config(settings.kafka, kafka_bootstrap(settings)),
            on_failure=lambda _topic: metrics.events_lost.inc(),
        )
        closers.append(events.close)
        topics = topics_for(settings)
        appeals = AppealService(
            pipeline=pipeline,
            keys=appeal_verify_keys(settings),
            store=PostgresAppealStore(pool),
            events=events,
            topics=topics,
            clock=clock,
            observer=metrics.appeals,
        )
        moderator = Moderator(
            pipeline=pipeline,
            cache=cache,
            events=events,
            topics=topics,
            metrics=metrics.worker,
            clock=clock,
            audit=build_recorder(settings, source="gateway", text_mode=pipeline.policy.audit_text),
        )
        return GatewayDeps(
            moderator=moderator,
            appeals=appeals,
            decisions=DecisionStore(pool, topic=topics.audit),
            keys=KeyStore(pool, clock=clock),
            limiter=build_limiter(
                default=settings.gateway.rate_limit, redis_url=redis_url(settings)
            ),
            metrics=metrics,
            policy_html=render_html(pipeline.policy),
            max_inputs=settings.gateway.max_inputs,
            relay_interval_s=settings.gateway.relay_interval_s,
            clock=clock,
            closers=closers,
        )
    except BaseException:
        for close in reversed(closers):
            close()
        raise

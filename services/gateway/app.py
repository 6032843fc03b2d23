"""``create_app``: the HTTP gateway as an ASGI application (FastAPI).

Routes: ``POST /v1/moderations`` (OpenAI's shape), ``POST /v1/check`` (our verdict),
``POST /v1/appeals``, ``GET /v1/appeals/{id}``, the review queue under ``/v1/review``,
``GET /v1/decisions/{request_id}``, ``GET /policy`` (HTML), ``/healthz``, ``/readyz``,
``/metrics``; the OpenAPI document at ``/openapi.json`` (``/docs`` renders it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final

from fastapi import FastAPI

from services.gateway.errors import install_error_handlers
from services.gateway.middleware import BodyLimit, HttpMetrics
from services.gateway.routes import appeals, decisions, meta, moderation
from services.gateway.wiring import GatewayDeps, OutboxRelay, build_deps
from shared.clock import utcnow
from shared.schemas import MAX_TEXT_BYTES
from shared.settings import Settings

__all__ = ["MAX_BODY_BYTES", "create_app"]

#: Largest request body: a full /v1/moderations batch of maximal texts, JSON-escaped.
MAX_BODY_BYTES: Final = 2 * 1024 * 1024 + MAX_TEXT_BYTES

_DESCRIPTION = """\
Clearpath's HTTP API: moderation through the same core and verdict cache as the Kafka
pipeline, appeals of refusals, the review queue, recorded decisions and the end-user policy.

Authenticate with `Authorization: Bearer cpk_...` (a key belongs to one tenant and has a
role: client, reviewer or admin). Errors always read
`{"error": {"type", "code", "message", "param"}}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    deps: GatewayDeps | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """The gateway app: collaborators from ``settings`` (the environment when None) unless
    ``deps`` are given; they are closed when the app shuts down."""
    deps = deps or build_deps(settings or Settings(), clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        relay = OutboxRelay(deps.appeals, interval_s=deps.relay_interval_s)
        relay.start()
        app.state.relay = relay
        app.state.ready = True
        deps.metrics.worker.up.labels("gateway").set(1)
        try:
            yield
        finally:
            app.state.ready = False
            deps.metrics.worker.up.labels("gateway").set(0)
            relay.stop()
            deps.close()

    app = FastAPI(
        title="Clearpath",
        version="1",
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.deps = deps
    app.state.ready = False
    install_error_handlers(app)
    for router in (moderation.router, appeals.router, decisions.router, meta.router):
        app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(HttpMetrics, metrics=deps.metrics)
    return app

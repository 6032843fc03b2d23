"""The end-user policy summary, health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.gateway.deps import Deps

__all__ = ["router"]

router = APIRouter()


@router.get(
    "/policy",
    response_class=HTMLResponse,
    tags=["policy"],
    summary="The end-user policy summary (HTML)",
    responses={200: {"content": {"text/html": {}}, "description": "The policy summary"}},
)
def policy(deps: Deps) -> HTMLResponse:
    """What the assistant helps with and why: every clause a receipt can cite, each with an
    anchor (``#<profile>-v<version>--<category>-<n>``). No key needed."""
    return HTMLResponse(deps.policy_html)


# Health and metrics are `async def`: they run on the event loop, never queued behind
# moderation requests on the thread pool, so a busy gateway still answers its probes.


@router.get("/healthz", response_class=PlainTextResponse, tags=["health"])
async def healthz() -> str:
    """Alive."""
    return "ok\n"


@router.get(
    "/readyz",
    response_class=PlainTextResponse,
    tags=["health"],
    responses={503: {"description": "Not ready"}},
)
async def readyz(request: Request) -> PlainTextResponse:
    """Ready to serve: collaborators built, outbox relay running, PostgreSQL answering its
    last probe (a pass of the relay)."""
    if not getattr(request.app.state, "ready", False):
        return PlainTextResponse("not ready\n", status_code=503)
    relay = getattr(request.app.state, "relay", None)
    if relay is not None and not relay.database_ok:
        return PlainTextResponse("not ready: database unreachable\n", status_code=503)
    return PlainTextResponse("ready\n")


@router.get("/metrics", include_in_schema=False)
async def metrics(deps: Deps) -> PlainTextResponse:
    body = generate_latest(deps.metrics.worker.registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)

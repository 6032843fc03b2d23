"""Run the gateway under uvicorn until SIGTERM/SIGINT (``clearpath worker gateway``)."""

from __future__ import annotations

import logging
import socket

import uvicorn

from services.gateway.app import create_app
from shared.errors import ClearpathError
from shared.heap import freeze_startup_heap
from shared.settings import Settings

__all__ = ["run_gateway"]

log = logging.getLogger("clearpath.gateway")


def run_gateway(settings: Settings | None = None) -> int:
    """Build the app, listen on ``gateway.host:gateway.port``, serve; the exit code."""
    settings = settings or Settings()
    try:
        app = create_app(settings)
    except ClearpathError as exc:
        log.error("gateway cannot start: %s", exc)
        return 2
    sock = socket.socket(socket.AF_INET6 if ":" in settings.gateway.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.gateway.host, settings.gateway.port))  # port 0: the kernel picks
    host, port = sock.getsockname()[:2]
    log.info("gateway listening on http://%s:%d (OpenAPI at /openapi.json)", host, port)
    config = uvicorn.Config(
        app,
        log_level="info",
        access_log=False,  # metrics count requests; access logs would carry ids
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if settings.worker.freeze_heap:
        freeze_startup_heap()  # the classifier, policy and clients are built by now
    server.run(sockets=[sock])
    return 0

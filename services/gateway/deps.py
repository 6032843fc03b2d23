"""FastAPI dependency: the collaborators the app was built with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.gateway.wiring import GatewayDeps

__all__ = ["Deps", "get_deps"]


def get_deps(request: Request) -> GatewayDeps:
    deps: GatewayDeps = request.app.state.deps
    return deps


Deps = Annotated[GatewayDeps, Depends(get_deps)]

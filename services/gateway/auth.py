"""API key authentication, roles, and the per-key rate limit, as FastAPI dependencies.

``Authorization: Bearer cpk_<key_id>_<secret>``. A key belongs to one tenant: every read and
write a request makes is scoped to it. What each role may do:

* ``client`` — moderate (``/v1/moderations``, ``/v1/check``), appeal, read its decisions
  and appeals;
* ``reviewer`` — the review queue (list, decide), read decisions and appeals;
* ``admin`` — everything either may do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.errors import ApiError
from services.gateway.ratelimit import KeyRateLimiter
from shared.apikeys import ApiKey, KeyStore, Role

__all__ = ["Permission", "require"]

Permission = Literal["moderate", "appeal", "read", "review"]
PERMISSIONS: Final[dict[Role, frozenset[Permission]]] = {
    "client": frozenset({"moderate", "appeal", "read"}),
    "reviewer": frozenset({"review", "read"}),
    "admin": frozenset({"moderate", "appeal", "read", "review"}),
}

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A Clearpath API key: `Authorization: Bearer cpk_<id>_<secret>`.",
)


def _keys(request: Request) -> KeyStore:
    keys: KeyStore = request.app.state.deps.keys
    return keys


def _limiter(request: Request) -> KeyRateLimiter:
    limiter: KeyRateLimiter = request.app.state.deps.limiter
    return limiter


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's key; 401 when absent or not an active key."""
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "authentication_error",
            "missing_api_key",
            "Send an API key: 'Authorization: Bearer cpk_...'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = _keys(request).authenticate(credentials.credentials)
    if key is None:
        raise ApiError(
            401,
            "authentication_error",
            "invalid_api_key",
            "The API key is not valid (unknown, revoked or mistyped).",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.api_key = key
    return key


def require(permission: Permission) -> Callable[..., ApiKey]:
    """A dependency: the caller's key, if its role has ``permission`` and it is within its
    rate limit (403 or 429 otherwise)."""

    def dependency(request: Request, key: Annotated[ApiKey, Depends(authenticate)]) -> ApiKey:
        if permission not in PERMISSIONS[key.role]:
            raise ApiError(
                403,
                "permission_error",
                "role_forbidden",
                f"A {key.role} key may not {permission}; use a key with a role that may.",
            )
        decision = _limiter(request).hit(key)
        request.state.rate_limit = decision
        if not decision.allowed:
            raise ApiError(
                429,
                "rate_limited",
                "rate_limit_exceeded",
                f"Rate limit of {decision.limit} for this key exceeded; retry after "
                f"{decision.retry_after_s} s.",
                headers=decision.headers(),
                retry_after_s=decision.retry_after_s,
            )
        return key

    return dependency

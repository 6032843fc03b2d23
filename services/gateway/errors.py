"""One error shape for every 4xx and 5xx answer, and the handlers that produce it.

::

    {"error": {"type": "...", "code": "...", "message": "...", "param": null, ...}}

``type`` is the class of problem (stable), ``code`` the precise case (stable), ``message``
a sentence for people, ``param`` the offending field when there is one. The four keys are
the ones OpenAI's API returns, so clients written for it read ours. Extra keys appear where
they help: ``reason`` (appeals), ``details`` (validation), ``retry_after_s`` (rate limit).
Messages never echo request text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.core.appeal import InvalidAppealToken
from shared.errors import (
    AppealConflict,
    AppealError,
    AppealNotFound,
    InfrastructureError,
    PoisonMessage,
)

__all__ = ["ApiError", "ErrorBody", "ErrorResponse", "error_responses", "install_error_handlers"]

log = logging.getLogger("clearpath.gateway")

_HTTP_TYPES: Final[Mapping[int, tuple[str, str]]] = {
    400: ("invalid_request", "bad_request"),
    401: ("authentication_error", "unauthorized"),
    403: ("permission_error", "forbidden"),
    404: ("not_found", "not_found"),
    405: ("invalid_request", "method_not_allowed"),
    406: ("invalid_request", "not_acceptable"),
    409: ("conflict", "conflict"),
    413: ("invalid_request", "body_too_large"),
    415: ("invalid_request", "unsupported_media_type"),
    422: ("invalid_request", "validation_error"),
    429: ("rate_limited", "rate_limit_exceeded"),
}


class ErrorBody(BaseModel):
    type: str = Field(description="Class of problem, e.g. invalid_request, rate_limited.")
    code: str = Field(description="The precise case, e.g. validation_error, expired.")
    message: str = Field(description="What went wrong, for people.")
    param: str | None = Field(default=None, description="The offending field, if any.")
    reason: str | None = Field(default=None, description="Appeals: why the token failed.")
    details: list[dict[str, Any]] | None = Field(default=None, description="Validation.")
    retry_after_s: int | None = Field(default=None, description="Rate limit: wait this long.")


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorBody


class ApiError(Exception):
    """An answer other than success, raised anywhere in a handler."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(type=type_, code=code, message=message, param=param, **extra)
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return error_json(self.status, self.body, headers=self.headers)


def error_json(
    status: int, body: ErrorBody, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    content = {"error": body.model_dump(exclude_none=True) | {"param": body.param}}
    return JSONResponse(content, status_code=status, headers=dict(headers or {}))


def _http_error(status: int, message: str) -> ErrorBody:
    type_, code = _HTTP_TYPES.get(status, ("server_error", "internal_error"))
    return ErrorBody(type=type_, code=code, message=message)


def _validation_error(exc: RequestValidationError) -> ErrorBody:
    details = []
    for error in exc.errors()[:10]:
        location = [str(part) for part in error.get("loc", ())]
        details.append({"loc": location, "msg": str(error.get("msg", "")), "type": error["type"]})
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = [p for p in first["loc"] if p not in ("body", "query", "path", "header")]
    param = ".".join(where) or None
    if first.get("type") == "json_invalid":
        return ErrorBody(
            type="invalid_request", code="invalid_json", message="The body is not valid JSON."
        )
    message = f"{param}: {first['msg']}" if param else str(first["msg"])
    more = len(exc.errors()) - 1
    if more > 0:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ErrorBody(
        type="invalid_request",
        code="validation_error",
        message=message,
        param=param,
        details=details,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through :func:`error_json`."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_json(422, _validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_json(
            exc.status_code, _http_error(exc.status_code, message), headers=exc.headers
        )

    @app.exception_handler(InvalidAppealToken)
    async def bad_token(_request: Request, exc: InvalidAppealToken) -> JSONResponse:
        body = ErrorBody(
            type="invalid_appeal",
            code="invalid_appeal_token",
            message=f"The appeal token was rejected: {exc}.",
            param="token" if exc.reason != "text_mismatch" else "text",
            reason=exc.reason,
        )
        return error_json(400, body)

    @app.exception_handler(AppealError)
    async def appeal_error(_request: Request, exc: AppealError) -> JSONResponse:
        if isinstance(exc, AppealNotFound):
            return error_json(404, ErrorBody(type="not_found", code="not_found", message=str(exc)))
        if isinstance(exc, AppealConflict):
            return error_json(
                409,
                ErrorBody(type="conflict", code=exc.reason, message=str(exc), reason=exc.reason),
            )
        body = ErrorBody(
            type="invalid_appeal", code=exc.reason, message=str(exc), reason=exc.reason
        )
        return error_json(400, body)

    @app.exception_handler(PoisonMessage)
    async def unprocessable(_request: Request, exc: PoisonMessage) -> JSONResponse:
        param = "profile" if exc.error_type == "unknown_profile" else None
        body = ErrorBody(type="invalid_request", code=exc.error_type, message=str(exc), param=param)
        return error_json(400, body)

    @app.exception_handler(InfrastructureError)
    async def unavailable(_request: Request, exc: InfrastructureError) -> JSONResponse:
        log.error("dependency unavailable: %s", exc)
        body = ErrorBody(
            type="service_unavailable",
            code="dependency_unavailable",
            message="A service Clearpath depends on is unavailable; retry shortly.",
        )
        return error_json(503, body, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error: %s", type(exc).__name__)
        body = ErrorBody(
            type="server_error", code="internal_error", message="An internal error occurred."
        )
        return error_json(500, body)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the error shape for ``statuses``."""
    return {
        status: {"model": ErrorResponse, "description": _describe(status)} for status in statuses
    }


def _describe(status: int) -> str:
    return {
        400: "Invalid request or appeal",
        401: "Missing or invalid API key",
        403: "The key's role may not do this",
        404: "Not found for this tenant",
        409: "Conflict",
        413: "Body too large",
        422: "Validation error",
        429: "Rate limit exceeded",
        503: "A dependency is unavailable",
    }.get(status, "Error")

"""``GET /v1/decisions/{request_id}``: the verdict a request got, as the audit trail keeps it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.gateway.auth import require
from services.gateway.deps import Deps
from services.gateway.errors import ApiError, error_responses
from shared.apikeys import ApiKey
from shared.schemas import Verdict

__all__ = ["router"]

router = APIRouter(tags=["decisions"])


@router.get(
    "/v1/decisions/{request_id}",
    response_model=Verdict,
    response_model_exclude_none=True,
    responses=error_responses(401, 403, 404, 429, 503),
    summary="The recorded verdict of one of your requests",
)
def decision(
    request_id: Annotated[str, Path(min_length=1, max_length=128)],
    key: Annotated[ApiKey, Depends(require("read"))],
    deps: Deps,
) -> Verdict:
    """The latest verdict recorded for ``request_id`` in the caller's tenant (text-derived
    parts withheld unless the tenant's audit mode keeps them). Another tenant's request is
    404, exactly like one that does not exist."""
    # PostgreSQL text cannot hold NUL (the audit sink stores it as U+FFFD): such an id has
    # no row, and asking the database would fail rather than answer "none".
    found = (
        None
        if "\x00" in request_id
        else deps.decisions.latest_verdict(tenant_id=key.tenant_id, request_id=request_id)
    )
    if found is not None:
        return Verdict.model_validate(found)
    raise ApiError(
        404, "not_found", "not_found", "No decision is recorded for this request id in your tenant."
    )

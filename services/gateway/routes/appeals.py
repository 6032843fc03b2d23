"""Appeals (``/v1/appeals``) and the review queue (``/v1/review/appeals``, reviewer role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from services.gateway.auth import require
from services.gateway.deps import Deps
from services.gateway.errors import error_responses
from services.gateway.models import AppealBody, AppealView, QueueItem, QueuePage, ReviewBody
from shared.apikeys import ApiKey
from shared.appeals.events import AppealMessage

__all__ = ["router"]

router = APIRouter(tags=["appeals"])
#: Appeal ids are ``apl_`` and hex; anything outside this alphabet (NUL bytes, controls) is a
#: 422 before it reaches the database, which could not even compare it.
APPEAL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
AppealId = Annotated[
    str, Path(pattern=APPEAL_ID_PATTERN, max_length=64, description="The appeal's id.")
]


@router.post(
    "/v1/appeals",
    response_model=AppealView,
    status_code=201,
    responses={
        200: {"model": AppealView, "description": "The same appeal was filed before"},
        **error_responses(400, 401, 403, 413, 422, 429, 503),
    },
    summary="Appeal a verdict with added context",
)
def file_appeal(
    body: AppealBody,
    key: Annotated[ApiKey, Depends(require("appeal"))],
    deps: Deps,
    response: Response,
) -> AppealView:
    """Verifies the receipt's token (signature, expiry, tenant, request, text), re-evaluates
    the request with the statement and purpose as declared intent, and answers
    ``overturned``, ``upheld`` or ``queued`` for a reviewer. The outcome is published to
    ``clearpath.appeal-outcomes.v1`` and the audit trail. Filing the same appeal again
    returns it (200) instead of filing a second one."""
    filed = deps.appeals.file(
        AppealMessage(
            tenant_id=key.tenant_id,
            request_id=body.request_id,
            token=body.token,
            text=body.text,
            statement=body.statement,
            purpose=body.purpose,
            submitted_at=deps.clock(),
        )
    )
    if not filed.created:
        response.status_code = 200
    return AppealView.of(filed.record)


@router.get(
    "/v1/appeals/{appeal_id}",
    response_model=AppealView,
    responses=error_responses(401, 403, 404, 429, 503),
    summary="Where an appeal stands",
)
def get_appeal(
    appeal_id: AppealId, key: Annotated[ApiKey, Depends(require("read"))], deps: Deps
) -> AppealView:
    return AppealView.of(deps.appeals.get(tenant_id=key.tenant_id, appeal_id=appeal_id))


@router.get(
    "/v1/review/appeals",
    response_model=QueuePage,
    responses=error_responses(401, 403, 422, 429, 503),
    summary="The review queue (reviewer role)",
)
def review_queue(
    key: Annotated[ApiKey, Depends(require("review"))],
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
    after: Annotated[
        str | None,
        Query(
            pattern=APPEAL_ID_PATTERN,
            max_length=64,
            description="`next_after` of the previous page.",
        ),
    ] = None,
) -> QueuePage:
    """Appeals of the reviewer's tenant waiting for a decision, oldest first, with the
    user's statement and the appealed text."""
    records = deps.appeals.queue(tenant_id=key.tenant_id, limit=limit + 1, after=after)
    page = records[:limit]
    more = len(records) > limit
    return QueuePage(
        items=[QueueItem.of(r) for r in page],
        next_after=page[-1].appeal_id if more and page else None,
    )


@router.post(
    "/v1/review/appeals/{appeal_id}/decision",
    response_model=AppealView,
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503),
    summary="Decide a queued appeal (reviewer role)",
)
def decide_appeal(
    appeal_id: AppealId,
    body: ReviewBody,
    key: Annotated[ApiKey, Depends(require("review"))],
    deps: Deps,
) -> AppealView:
    """Overturn or uphold a queued appeal, once (409 if it is not waiting). The decision is
    published as a second outcome (``decided_by: reviewer``) and linked in the audit trail."""
    record = deps.appeals.review(
        tenant_id=key.tenant_id,
        appeal_id=appeal_id,
        decision=body.decision,
        note=body.note,
        reviewer=key.key_id,
    )
    return AppealView.of(record)

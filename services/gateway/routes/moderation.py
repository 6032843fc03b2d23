"""``POST /v1/check`` (our verdict) and ``POST /v1/moderations`` (OpenAI's shape)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from services.gateway.auth import require
from services.gateway.deps import Deps
from services.gateway.errors import ApiError, error_responses
from services.gateway.models import (
    CheckBody,
    ClearpathResult,
    ImagePart,
    ModerationResult,
    ModerationsBody,
    ModerationsResponse,
    PerCategory,
    TextPart,
)
from services.gateway.openai_shape import (
    OPENAI_CATEGORIES,
    category_flags,
    category_scores,
    flagged,
)
from shared.apikeys import ApiKey
from shared.schemas import ModerationRequest, Verdict

__all__ = ["router"]

router = APIRouter(tags=["moderation"])
Moderating = Annotated[ApiKey, Depends(require("moderate"))]
_ERRORS = error_responses(400, 401, 403, 413, 422, 429, 503)


@router.post(
    "/v1/check",
    response_model=Verdict,
    response_model_exclude_none=True,
    responses=_ERRORS,
    summary="Moderate one message and return the full verdict",
)
def check(body: CheckBody, key: Moderating, deps: Deps) -> Verdict:
    """Detection, policy and response in-process, with the verdict cache: the same core as
    the Kafka pipeline. A refusal carries its receipt and appeal token."""
    request = ModerationRequest(
        request_id=body.request_id or f"chk-{uuid.uuid4().hex}",
        tenant_id=key.tenant_id,
        text=body.text,
        role=body.role,
        profile=body.profile,
        intent=body.intent,
        conversation_id=body.conversation_id,
        locale=body.locale,
        submitted_at=deps.clock(),
    )
    return deps.moderator.check(request)


def _inputs(body: ModerationsBody, limit: int) -> list[str]:
    """The texts to score: one per string; an array of content parts is one input."""
    raw = body.input
    if isinstance(raw, str):
        return [raw]
    if all(isinstance(item, str) for item in raw):
        texts = [item for item in raw if isinstance(item, str)]
    else:
        if any(isinstance(item, ImagePart) for item in raw):
            raise ApiError(
                400,
                "invalid_request",
                "unsupported_input",
                "Image inputs are not supported; send text.",
                param="input",
            )
        texts = ["\n".join(item.text for item in raw if isinstance(item, TextPart))]
    if not texts:
        raise ApiError(400, "invalid_request", "empty_input", "input is empty.", param="input")
    if len(texts) > limit:
        raise ApiError(
            400,
            "invalid_request",
            "too_many_inputs",
            f"input has {len(texts)} items; at most {limit} per request.",
            param="input",
        )
    return texts


_TEXT_ONLY: dict[str, list[Literal["text"]]] = {name: ["text"] for name in OPENAI_CATEGORIES}


def _result(verdict: Verdict) -> ModerationResult:
    return ModerationResult(
        flagged=flagged(verdict),
        categories=PerCategory[bool].model_validate(category_flags(verdict)),
        category_scores=PerCategory[float].model_validate(category_scores(verdict)),
        category_applied_input_types=PerCategory[list[Literal["text"]]].model_validate(_TEXT_ONLY),
        clearpath=ClearpathResult(
            request_id=verdict.request_id, action=verdict.action, receipt=verdict.receipt
        ),
    )


@router.post(
    "/v1/moderations",
    response_model=ModerationsResponse,
    response_model_exclude_none=True,
    responses=_ERRORS,
    summary="OpenAI-compatible moderation",
)
def moderations(body: ModerationsBody, key: Moderating, deps: Deps) -> ModerationsResponse:
    """Accepts and answers in the OpenAI moderation API's shape, so existing clients can
    point at Clearpath. Categories map from Clearpath's taxonomy; ``flagged`` follows the
    policy (refer, refuse or escalate); each result carries Clearpath's action and receipt."""
    texts = _inputs(body, deps.max_inputs)
    run = f"modr-{uuid.uuid4().hex}"
    now = deps.clock()
    results = []
    for i, text in enumerate(texts):
        request = ModerationRequest(
            request_id=f"{run}-{i}",
            tenant_id=key.tenant_id,
            text=text,
            profile=body.profile,
            submitted_at=now,
        )
        results.append(_result(deps.moderator.check(request)))
    return ModerationsResponse(id=run, model=body.model or "clearpath", results=results)

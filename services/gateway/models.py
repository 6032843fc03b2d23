"""Request and response bodies of the HTTP API (they make its OpenAPI document).

Tenants never appear in bodies: the API key names the tenant. Texts are limited to
:data:`~shared.schemas.MAX_TEXT_BYTES` bytes of UTF-8, as on Kafka.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.appeals.store import AppealRecord
from shared.core.appeals import (
    AppealOutcome,
    OutcomeReason,
    ReviewDecision,
    ReviewOutcome,
    action_after,
)
from shared.schemas import MAX_TEXT_BYTES, Action, Identifier, Intent, Purpose, Receipt

__all__ = [
    "AppealBody",
    "AppealView",
    "CheckBody",
    "ModerationResult",
    "ModerationsBody",
    "ModerationsResponse",
    "PerCategory",
    "QueueItem",
    "QueuePage",
    "ReviewBody",
]


def _within_limit(text: str) -> str:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"text is {size} bytes; the limit is {MAX_TEXT_BYTES} bytes")
    return text


Text = Annotated[str, AfterValidator(_within_limit)]
T = TypeVar("T")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckBody(_Body):
    """``POST /v1/check``: one message, decided synchronously (same core, same cache)."""

    text: Text = Field(description=f"The text, UTF-8, at most {MAX_TEXT_BYTES} bytes.")
    request_id: Identifier | None = Field(
        default=None, description="Your id for it (unique per tenant); generated when absent."
    )
    role: Literal["user", "assistant"] = "user"
    profile: Identifier = Field(default="public_assistant", description="Deployment profile.")
    intent: Intent | None = Field(default=None, description="Declared intent, if any.")
    conversation_id: Identifier | None = None
    locale: str | None = Field(default=None, max_length=35, description="BCP 47 locale.")


class TextPart(_Body):
    type: Literal["text"]
    text: Text


class ImageUrl(BaseModel):
    url: str


class ImagePart(_Body):
    type: Literal["image_url"]
    image_url: ImageUrl


class ModerationsBody(BaseModel):
    """``POST /v1/moderations``: OpenAI's moderation request (extra fields are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    input: Text | list[Text] | list[TextPart | ImagePart] = Field(
        description="A string, an array of strings, or an array of {type: 'text', text} "
        "objects (image inputs are not supported)."
    )
    model: str | None = Field(default=None, max_length=128, description="Echoed back.")
    profile: Identifier = Field(
        default="public_assistant", description="Clearpath extension: the deployment profile."
    )


class PerCategory(BaseModel, Generic[T]):
    """One value per OpenAI moderation category (the JSON names carry ``/`` and ``-``)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    harassment: T
    harassment_threatening: T = Field(alias="harassment/threatening")
    hate: T
    hate_threatening: T = Field(alias="hate/threatening")
    illicit: T
    illicit_violent: T = Field(alias="illicit/violent")
    self_harm: T = Field(alias="self-harm")
    self_harm_intent: T = Field(alias="self-harm/intent")
    self_harm_instructions: T = Field(alias="self-harm/instructions")
    sexual: T
    sexual_minors: T = Field(alias="sexual/minors")
    violence: T
    violence_graphic: T = Field(alias="violence/graphic")


class ClearpathResult(BaseModel):
    """Clearpath's own verdict behind an OpenAI-shaped result."""

    request_id: str
    action: Action
    receipt: Receipt | None = None


class ModerationResult(BaseModel):
    flagged: bool
    categories: PerCategory[bool]
    category_scores: PerCategory[float]
    category_applied_input_types: PerCategory[list[Literal["text"]]]
    clearpath: ClearpathResult


class ModerationsResponse(BaseModel):
    """OpenAI's moderation response shape."""

    id: str
    model: str
    results: list[ModerationResult]


class AppealBody(_Body):
    """``POST /v1/appeals``: the receipt's token, the original text, the added context."""

    request_id: Identifier = Field(description="The appealed request (the token binds it).")
    token: str = Field(min_length=1, max_length=2048, description="The receipt's appeal token.")
    text: Text = Field(min_length=1, description="The original text (the token binds it).")
    statement: str | None = Field(
        default=None, max_length=2000, description="What you want us to know: your context."
    )
    purpose: Purpose | None = Field(default=None, description="Your purpose, if one fits.")


class ReviewView(BaseModel):
    outcome: ReviewOutcome
    note: str | None = None
    decided_at: datetime


class AppealView(BaseModel):
    """An appeal and where it stands."""

    appeal_id: str
    request_id: str
    status: Literal["queued", "decided"]
    outcome: AppealOutcome = Field(description="Final outcome so far (a reviewer's, if any).")
    automatic_outcome: AppealOutcome
    reason: OutcomeReason
    action: Action = Field(description="The action in force after the outcome.")
    original_action: Action
    reconsidered_action: Action | None = None
    profile: str
    category: str | None = None
    policy_ref: str | None = None
    purpose: Purpose | None = None
    created_at: datetime
    review: ReviewView | None = None

    @classmethod
    def of(cls, record: AppealRecord) -> AppealView:
        review = None
        if record.review_outcome is not None and record.reviewed_at is not None:
            review = ReviewView(
                outcome=record.review_outcome,
                note=record.review_note,
                decided_at=record.reviewed_at,
            )
        return cls(
            appeal_id=record.appeal_id,
            request_id=record.request_id,
            status=record.status,
            outcome=record.final_outcome,
            automatic_outcome=record.outcome,
            reason=record.reason,
            action=action_after(
                record.final_outcome,
                original=record.original_action,
                reconsidered=record.reconsidered_action,
            ),
            original_action=record.original_action,
            reconsidered_action=record.reconsidered_action,
            profile=record.profile,
            category=record.category,
            policy_ref=record.policy_ref,
            purpose=record.purpose,
            created_at=record.created_at,
            review=review,
        )


class QueueItem(AppealView):
    """A queued appeal as a reviewer sees it: with the user's statement and the text."""

    statement: str | None = None
    text: str | None = Field(default=None, description="The appealed text (kept until decided).")

    @classmethod
    def of(cls, record: AppealRecord) -> QueueItem:
        view = AppealView.of(record).model_dump()
        return cls(**view, statement=record.statement, text=record.request_text)


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_after: str | None = Field(
        default=None, description="Pass as `after` for the next page (absent on the last)."
    )


class ReviewBody(_Body):
    """A reviewer's decision on a queued appeal."""

    decision: ReviewDecision
    note: str | None = Field(default=None, max_length=2000, description="Why (kept with it).")

"""Appeal wire contracts (v1): appeals in, outcomes out, and the outcome's audit event.

* :class:`AppealMessage` — on ``clearpath.appeals.v1`` (filed by ``clearpath worker
  appeals``); over HTTP it is the body of ``POST /v1/appeals`` plus the ``tenant_id`` the
  API key names.
* :class:`AppealOutcomeEvent` — on ``clearpath.appeal-outcomes.v1``: one when the appeal is
  filed (``decided_by='policy'``: overturned, upheld or queued) and, for a queued appeal, one
  more when a reviewer decides (``decided_by='reviewer'``). Consumers deduplicate by
  ``(appeal_id, decided_by)``: delivery is at least once.
* :class:`AppealOutcomeAuditEvent` — ``kind='appeal_outcome'`` on ``clearpath.audit.v1``, the
  same outcome linked into the request's audit trail (``request_id``, ``appeal_id`` and the
  appealed token's id, which the verdict's audit event also records).

No request text, and no user statement, leaves in these events: the statement stays in the
appeals table for the reviewer.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, Field

from shared.audit.events import AuditEvent
from shared.core.appeals import AppealOutcome, OutcomeReason
from shared.schemas import (
    MAX_TEXT_BYTES,
    SCHEMA_VERSION,
    Action,
    Identifier,
    Purpose,
    WireModel,
)

__all__ = [
    "APPEAL_OUTCOME_KIND",
    "AppealMessage",
    "AppealOutcomeAuditEvent",
    "AppealOutcomeEvent",
    "DecidedBy",
]

APPEAL_OUTCOME_KIND: Final = "appeal_outcome"
DecidedBy = Literal["policy", "reviewer"]


class AppealMessage(WireModel):
    """An appeal of a verdict: its receipt's token, the original text, and what the user adds."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="Wire schema version.")
    tenant_id: Identifier = Field(description="Tenant of the appealed request.")
    request_id: Identifier = Field(description="The appealed request (bound by the token).")
    token: str = Field(
        min_length=1, max_length=2048, description="The receipt's appeal token, as received."
    )
    text: str = Field(
        min_length=1,
        description=f"The original request text (UTF-8, at most {MAX_TEXT_BYTES} bytes); the "
        "token binds it, so only the text the verdict was given for is accepted.",
    )
    statement: str | None = Field(
        default=None,
        max_length=2000,
        description="The user's added context, in their words: treated as declared intent.",
    )
    purpose: Purpose | None = Field(
        default=None, description="The purpose the user had, if they name one (else 'other')."
    )
    submitted_at: AwareDatetime | None = Field(default=None, description="When it was sent.")


class AppealOutcomeEvent(WireModel):
    """On ``clearpath.appeal-outcomes.v1``: what became of an appeal, and who decided."""

    schema_version: int = SCHEMA_VERSION
    appeal_id: str = Field(description="Stable id of the appeal (deterministic per appeal).")
    tenant_id: Identifier
    request_id: Identifier
    token_id: str = Field(description="First 32 hex digits of SHA-256 of the appealed token.")
    outcome: AppealOutcome
    decided_by: DecidedBy
    reason: OutcomeReason = Field(description="Stable name of the rule that decided it.")
    profile: str
    category: str | None = Field(default=None, description="Primary category appealed.")
    policy_ref: str | None = Field(default=None, description="Clause the receipt cited.")
    action: Action = Field(description="The action in force after this outcome.")
    original_action: Action = Field(description="Action without the added context.")
    reconsidered_action: Action | None = Field(
        default=None, description="Action with the added context (None when none was added)."
    )
    purpose: Purpose | None = Field(default=None, description="Purpose the user declared.")
    note: str | None = Field(default=None, max_length=2000, description="The reviewer's note.")
    decided_at: AwareDatetime


class AppealOutcomeAuditEvent(AuditEvent):
    """``kind='appeal_outcome'``: an appeal outcome in the request's audit trail."""

    kind: Literal["appeal_outcome"] = APPEAL_OUTCOME_KIND
    appeal_id: str
    token_id: str
    outcome: AppealOutcome
    decided_by: DecidedBy
    reason: OutcomeReason
    category: str | None = None
    policy_ref: str | None = None
    original_action: Action
    reconsidered_action: Action | None = None
    purpose: Purpose | None = None
    note: str | None = None

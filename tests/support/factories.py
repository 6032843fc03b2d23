"""Factories for wire models and the response layer's collaborators, with safe defaults.

Every factory takes keyword overrides so a test states only what it is about::

    message = make_decision_message(decision=make_decision("refuse", category="violence"))
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from shared.core.appeal import AppealIssuer
from shared.schemas import (
    Action,
    CategoryResult,
    Decision,
    DecisionMessage,
    Detection,
    ModerationRequest,
    PiiSpan,
    RuleFired,
)

__all__ = [
    "APPEAL_KEY",
    "APPEAL_KID",
    "NOW",
    "SUBMITTED_AT",
    "FakeRecheck",
    "fake_redact",
    "make_appeal_issuer",
    "make_decision",
    "make_decision_message",
    "make_detection",
    "make_request",
]

SUBMITTED_AT: Final = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
#: A "now" 250 ms after :data:`SUBMITTED_AT`.
NOW: Final = datetime(2025, 1, 2, 3, 4, 5, 250_000, tzinfo=UTC)
APPEAL_KEY: Final = b"test-appeal-key-0123456789abcdef"
APPEAL_KID: Final = "k1"


def make_request(**overrides: Any) -> ModerationRequest:
    """A valid request (tenant ``t1``, ``public_assistant``) with ``overrides`` applied."""
    fields: dict[str, Any] = {
        "request_id": "req-1",
        "tenant_id": "t1",
        "text": "How do I bake bread?",
        "submitted_at": SUBMITTED_AT,
    }
    fields.update(overrides)
    return ModerationRequest.model_validate(fields)


def make_detection(
    scores: dict[str, float] | None = None,
    *,
    pii: Sequence[PiiSpan] = (),
    model_version: str = "test-model@1",
    **overrides: Any,
) -> Detection:
    """A detection with the given scores (none by default), PII spans and other fields."""
    fields: dict[str, Any] = {
        "scores": scores or {},
        "pii": tuple(pii),
        "model_version": model_version,
    }
    fields.update(overrides)
    return Detection.model_validate(fields)


def make_decision(
    action: Action = "allow",
    *,
    category: str | None = None,
    score: float = 0.9,
    threshold: float = 0.5,
    profile: str = "public_assistant",
    policy_version: str = "3",
    **overrides: Any,
) -> Decision:
    """A decision; a non-allow ``action`` with a ``category`` gets the matching result and rule.

    The cited clause is ``{profile}@{policy_version}#{category}.1`` unless overridden.
    """
    fields: dict[str, Any] = {
        "action": action,
        "profile": profile,
        "policy_version": policy_version,
    }
    if category is not None:
        triggered = action != "allow"
        ref = f"{profile}@{policy_version}#{category}.1"
        fields["categories"] = (
            CategoryResult(
                id=category,
                score=score,
                threshold=threshold,
                triggered=triggered,
                action=action,
            ),
        )
        if triggered:
            fields["primary_category"] = category
            fields["policy_ref"] = ref
            rule = RuleFired(
                rule=f"profile.{category}", category=category, action=action, policy_ref=ref
            )
            fields["rules_fired"] = (rule,)
    fields.update(overrides)
    return Decision.model_validate(fields)


def make_decision_message(
    *,
    request: ModerationRequest | None = None,
    detection: Detection | None = None,
    decision: Decision | None = None,
    timings_ms: dict[str, float] | None = None,
) -> DecisionMessage:
    """A decision message from the parts given (defaults: an allowed, harmless request)."""
    return DecisionMessage(
        request=request or make_request(),
        detection=detection or make_detection(),
        decision=decision or make_decision(),
        timings_ms=timings_ms if timings_ms is not None else {"detection": 4.0, "policy": 1.0},
    )


def make_appeal_issuer(*, ttl_s: int = 3600, instructions: str = "Appeal here.") -> AppealIssuer:
    """An appeal signer over the test key :data:`APPEAL_KEY` (id :data:`APPEAL_KID`)."""
    return AppealIssuer(key=APPEAL_KEY, kid=APPEAL_KID, ttl_s=ttl_s, instructions=instructions)


def fake_redact(text: str, spans: Sequence[PiiSpan]) -> str:
    """A stand-in for ``shared.core.pii.redact``: each span becomes ``[KIND]``."""
    out, cursor = [], 0
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        start, end = max(cursor, min(span.start, len(text))), min(span.end, len(text))
        out.append(text[cursor:start])
        if end > start:
            out.append(f"[{span.kind.upper()}]")
            cursor = end
        else:
            cursor = start
    out.append(text[cursor:])
    return "".join(out)


class FakeRecheck:
    """A fake ``recheck``: ``allow`` for the texts in ``allow``, else ``default``; records calls."""

    def __init__(self, default: Action = "allow", *, allow: Collection[str] = ()) -> None:
        self.default: Action = default
        self.allow = frozenset(allow)
        self.seen: list[str] = []

    def __call__(self, text: str) -> Action:
        self.seen.append(text)
        return "allow" if text in self.allow else self.default


_DIGITS_TO_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def text_tag(length: int = 8) -> str:
    """A random tag that makes texts unique per test run, in letters only: a tag of hex
    digits can read as a phone number (``(40312345-13)``) and turn a benign text into a
    ``redact``."""
    return uuid.uuid4().hex[:length].translate(_DIGITS_TO_LETTERS)

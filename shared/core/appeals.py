"""Appeal outcomes: how a re-evaluation with the user's added context becomes a result (pure).

An appeal carries the receipt's token, the original text and what the user adds: a
statement and, optionally, the purpose they had in mind. The request is decided twice
with the same detection: as it stands (``baseline``, no intent) and with the added context
as declared, *unverified* intent (``reconsidered``; purpose ``other`` when none is given).
Then, in order:

1. ``overturned`` (``policy_allows``) — the baseline is already ``allow``: the policy in
   force today allows the request without any added context.
2. ``upheld`` (``hard_floor``) — a hard floor fired: nothing may relax it.
3. ``upheld`` (``no_context``) — the appeal adds no purpose and no statement: there is
   nothing new to weigh.
4. ``overturned`` (``context_allows``) — with the context the action is less restrictive
   than the baseline *and* one of :data:`ANSWERING_ACTIONS` (``allow``,
   ``allow_with_guidance``, ``refer``): the user gets an answer (``refer`` answers with
   general information and a referral). ``redact`` does not count: it is a change of
   form, not an answer to the appeal.
5. ``queued`` (``needs_review``) — otherwise: a human reviewer decides (overturn or uphold).

Declared intent relaxes only categories the policy marks relaxable, for the purposes it
lists, so an appeal can never obtain more than the same request would with that intent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal

from shared.schemas import ACTION_RANK, Action, Decision, Intent, Purpose

__all__ = [
    "ANSWERING_ACTIONS",
    "APPEAL_OUTCOMES",
    "AppealContext",
    "AppealJudgement",
    "AppealOutcome",
    "OutcomeReason",
    "ReviewDecision",
    "ReviewOutcome",
    "action_after",
    "appeal_id_for",
    "judge_appeal",
    "profile_of",
    "review_outcome",
    "token_id",
]

AppealOutcome = Literal["overturned", "upheld", "queued"]
APPEAL_OUTCOMES: Final[tuple[AppealOutcome, ...]] = ("overturned", "upheld", "queued")
ReviewDecision = Literal["overturn", "uphold"]
ReviewOutcome = Literal["overturned", "upheld"]
OutcomeReason = Literal[
    "policy_allows", "hard_floor", "no_context", "context_allows", "needs_review", "reviewer"
]
#: Actions under which the user gets an answer; a reconsidered action here overturns.
ANSWERING_ACTIONS: Final[tuple[Action, ...]] = ("allow", "allow_with_guidance", "refer")


@dataclass(frozen=True, slots=True)
class AppealContext:
    """What the user adds to an appeal: a purpose and/or a statement (either may be absent)."""

    purpose: Purpose | None = None
    statement: str | None = None

    @property
    def adds_context(self) -> bool:
        return self.purpose is not None or bool(self.statement and self.statement.strip())

    def intent(self) -> Intent | None:
        """The added context as declared, unverified intent; None when nothing was added."""
        if not self.adds_context:
            return None
        statement = self.statement.strip() if self.statement else None
        return Intent(purpose=self.purpose or "other", statement=statement or None, verified=False)


@dataclass(frozen=True, slots=True)
class AppealJudgement:
    """The automatic outcome and what it was based on."""

    outcome: AppealOutcome
    reason: OutcomeReason
    original_action: Action
    reconsidered_action: Action | None
    category: str | None


def _floor_fired(decision: Decision) -> bool:
    return any(rule.rule.startswith("floor.") for rule in decision.rules_fired)


def judge_appeal(baseline: Decision, reconsidered: Decision | None) -> AppealJudgement:
    """Apply the rule in the module docstring; ``reconsidered`` is None without context."""

    def judged(
        outcome: AppealOutcome, reason: OutcomeReason, action: Action | None = None
    ) -> AppealJudgement:
        return AppealJudgement(outcome, reason, baseline.action, action, baseline.primary_category)

    if baseline.action == "allow":
        return judged("overturned", "policy_allows")
    if _floor_fired(baseline):
        return judged("upheld", "hard_floor", reconsidered.action if reconsidered else None)
    if reconsidered is None:
        return judged("upheld", "no_context")
    action = reconsidered.action
    if action in ANSWERING_ACTIONS and ACTION_RANK[action] < ACTION_RANK[baseline.action]:
        return judged("overturned", "context_allows", action)
    return judged("queued", "needs_review", action)


def action_after(
    outcome: AppealOutcome, *, original: Action, reconsidered: Action | None
) -> Action:
    """The action in force after ``outcome``: an overturn answers (with the reconsidered
    action when that answers, else ``allow``: a reviewer judged the refusal wrong); upheld
    and queued leave the original."""
    if outcome != "overturned":
        return original
    return reconsidered if reconsidered in ANSWERING_ACTIONS else "allow"


def review_outcome(decision: ReviewDecision) -> ReviewOutcome:
    """The outcome a reviewer's decision publishes."""
    return "overturned" if decision == "overturn" else "upheld"


def profile_of(policy_ref: str | None) -> str | None:
    """The profile a receipt's clause reference names (``<profile>@<version>...``)."""
    if not policy_ref or "@" not in policy_ref:
        return None
    return policy_ref.split("@", 1)[0] or None


def token_id(token: str) -> str:
    """A token's public id: the first 32 hex digits of its SHA-256 (as the audit trail keeps it)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def appeal_id_for(*, tenant_id: str, request_id: str, token: str, context: AppealContext) -> str:
    """A deterministic id: the same appeal sent twice (a retry, a redelivery) is one appeal."""
    parts = (tenant_id, request_id, token, context.purpose or "", (context.statement or "").strip())
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"apl_{digest[:24]}"

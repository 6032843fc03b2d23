"""Response composition: a decision message becomes the verdict, with a receipt unless allowed.

The receipt says why in one plain line, cites the policy clause, offers 1-3 permitted
next steps, a safer rewrite that the same detection and policy allow (omitted when none
does), and an appeal token bound to the request, tenant and text. Every collaborator is
passed in: ``sign_appeal`` (an :class:`~shared.core.appeal.AppealSigner`), ``recheck``
and ``redact``; so is ``now``.

Locale: wording exists in English only. :func:`resolve_locale` maps any requested
locale to a language the table has (by primary subtag) and falls back to English; the
receipt's ``locale`` names the language actually used, not the one asked for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Final

from shared.core.appeal import AppealSigner
from shared.core.receipt_text import (
    DEFAULT_CATEGORY,
    DEFAULT_LOCALE,
    TEXTS,
    CategoryText,
    LocaleText,
)
from shared.core.rewrite import Recheck, Redactor, choose_rewrite, rewrite_candidates
from shared.schemas import (
    Action,
    Decision,
    DecisionMessage,
    PiiSpan,
    Receipt,
    Verdict,
    VerdictCategory,
)

__all__ = [
    "RECEIPT_ACTIONS",
    "build_receipt",
    "cited_policy_ref",
    "compose_verdict",
    "receipt_alternatives",
    "receipt_reason",
    "resolve_locale",
]

#: Actions that carry a receipt (every action but allow).
RECEIPT_ACTIONS: Final[tuple[Action, ...]] = (
    "allow_with_guidance",
    "refer",
    "redact",
    "refuse",
    "escalate",
)
_KIND_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_NO_TIMINGS: Final[Mapping[str, float]] = MappingProxyType({})


def resolve_locale(locale: str | None) -> str:
    """The language the receipt will use: ``locale``'s primary subtag if known, else English."""
    language = (locale or "").replace("_", "-").split("-", 1)[0].lower()
    return language if language in TEXTS else DEFAULT_LOCALE


def _category_text(text: LocaleText, category: str | None) -> CategoryText:
    return text.categories.get(category or "", text.categories[DEFAULT_CATEGORY])


def _pii_kinds(text: LocaleText, pii: Sequence[PiiSpan]) -> str:
    """Plain names of the kinds of personal data masked, in order of first appearance (4 at most).

    Past four kinds the last name becomes the generic one, so the reason stays one short line.
    """
    names = list(
        dict.fromkeys(text.pii_kinds.get(s.kind) or _plain_kind(s.kind, text) for s in pii)
    )
    if len(names) > 4:
        names = list(dict.fromkeys([*names[:3], text.pii_other]))
    return ", ".join(names)


def _plain_kind(kind: str, text: LocaleText) -> str:
    """An unlisted kind as words (``passport_number``), or a generic name if it is not an id."""
    return kind.replace("_", " ").lower() if _KIND_ID.fullmatch(kind) else text.pii_other


def receipt_reason(
    category: str | None,
    action: Action,
    *,
    locale: str = DEFAULT_LOCALE,
    pii: Sequence[PiiSpan] = (),
) -> str:
    """The one-line reason for ``action`` (one of :data:`RECEIPT_ACTIONS`) on ``category``.

    Names the kinds of ``pii`` for ``redact``; never the text or PII values.
    """
    text = TEXTS[resolve_locale(locale)]
    entry = _category_text(text, category)
    if action in entry.reasons:
        return entry.reasons[action]
    if action == "redact":
        kinds = _pii_kinds(text, pii)
        return text.redact.format(kinds=kinds) if kinds else text.redact_unknown
    if action == "allow_with_guidance":
        return text.guidance.format(label=entry.label)
    if action == "refer":
        return text.refer.format(label=entry.label)
    if action == "escalate":
        return text.escalate.format(label=entry.label)
    return entry.refuse


def receipt_alternatives(
    category: str | None, action: Action, *, locale: str = DEFAULT_LOCALE
) -> tuple[str, ...]:
    """1-3 permitted next steps for ``action`` on ``category``."""
    text = TEXTS[resolve_locale(locale)]
    entry = _category_text(text, category)
    if action == "redact":
        chosen = text.redact_alternatives
    elif action == "refer":
        chosen = entry.referral or (*text.referral, *entry.alternatives)
    elif action == "escalate":
        chosen = (text.escalate_first, *entry.alternatives)
    else:
        chosen = entry.alternatives
    return tuple(chosen[:3])


def cited_policy_ref(decision: Decision) -> str:
    """The clause a receipt cites: the decision's, else a fired rule's, else the profile's."""
    if decision.policy_ref:
        return decision.policy_ref
    rules = sorted(decision.rules_fired, key=lambda r: r.category != decision.primary_category)
    if rules:
        return rules[0].policy_ref
    return f"{decision.profile}@{decision.policy_version}"


def build_receipt(
    message: DecisionMessage,
    *,
    now: datetime,
    sign_appeal: AppealSigner,
    recheck: Recheck,
    redact: Redactor,
) -> Receipt | None:
    """The receipt for ``message``'s decision, or None when the action is ``allow``."""
    request, detection, decision = message.request, message.detection, message.decision
    if decision.action == "allow":
        return None
    locale = resolve_locale(request.locale)
    category, action = decision.primary_category, decision.action
    policy_ref = cited_policy_ref(decision)
    candidates = rewrite_candidates(request, detection, decision, redact=redact)
    return Receipt(
        reason=receipt_reason(category, action, locale=locale, pii=detection.pii),
        policy_ref=policy_ref,
        alternatives=receipt_alternatives(category, action, locale=locale),
        rewrite=choose_rewrite(candidates, recheck=recheck),
        appeal=sign_appeal(
            request_id=request.request_id,
            tenant_id=request.tenant_id,
            policy_ref=policy_ref,
            category=category,
            now=now,
            text=request.text,
        ),
        locale=locale,
    )


def compose_verdict(
    message: DecisionMessage,
    *,
    now: datetime,
    sign_appeal: AppealSigner,
    recheck: Recheck,
    redact: Redactor,
    extra_timings: Mapping[str, float] = _NO_TIMINGS,
) -> Verdict:
    """The verdict for ``message`` at ``now`` (timezone-aware; it becomes ``decided_at``).

    ``timings_ms`` holds the message's stage timings, then ``extra_timings``, then
    ``total``: milliseconds from ``submitted_at`` to ``now`` (0 if the platform's clock
    runs ahead). ``cache_hit`` is False: the cache layer sets it on what it serves.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    request, detection, decision = message.request, message.detection, message.decision
    total_ms = max(0.0, (now - request.submitted_at).total_seconds() * 1000.0)
    return Verdict(
        request_id=request.request_id,
        tenant_id=request.tenant_id,
        conversation_id=request.conversation_id,
        profile=decision.profile,
        action=decision.action,
        categories=tuple(
            VerdictCategory(id=c.id, score=c.score, threshold=c.threshold, triggered=c.triggered)
            for c in decision.categories
        ),
        receipt=build_receipt(
            message, now=now, sign_appeal=sign_appeal, recheck=recheck, redact=redact
        ),
        redacted_text=redact(request.text, detection.pii) if decision.action == "redact" else None,
        policy_version=decision.policy_version,
        model_version=detection.model_version,
        intent_applied=decision.intent_applied,
        cache_hit=False,
        timings_ms={**message.timings_ms, **extra_timings, "total": total_ms},
        decided_at=now,
    )

"""Policy evaluation: (detection, request, policy) → Decision, a pure, deterministic function.

How a decision is made, per category the policy defines (in policy order):

1. **Bands** — the request's profile (or the tenant's replacement bands for it) maps the
   category score to an action: the highest band whose ``min`` the score reaches. With the
   policy's ``unsafe`` signal (the classifier's any-harm score) at or above its ``min``, the
   highest-scoring category that reached its first band is read at its last band's ``min``
   instead (rule ``unsafe.<category>`` when that changed the band); intent then applies
   to it as to any score. With ``uncorroborated: first_band`` and no category at its first
   band, the highest-scoring category is read at its first band's ``min``, and what that
   band asks for is softened to guidance if it would refuse, escalate or redact.
2. **Intent** — a declared purpose relaxes a category only when the category is
   ``relaxable`` and lists that purpose. Unverified: every band's ``min`` shifts up by
   ``intent.unverified_shift``. Verified: by ``intent.verified_shift``, and the category
   then asks for at most its ``intent.verified_cap`` (``allow_with_guidance`` by default,
   ``refer`` for self-harm). When intent changes a category's action the category's rule
   is ``intent.<category>`` (citing the category's intent clause) instead of the band's.
3. **Floors** — applied last: a score at or above a floor's ``min`` asks for at least the
   floor's action, whatever profile, tenant or intent say.

Then deterministic rules: blocklist hits (``tenant.<id>.blocklist`` / ``global.blocklist``)
and PII spans (``pii.<action>`` under the profile's ``pii_action``, unless ``allow``).
The decision's action is the most restrictive of every rule that fired; its primary
category and policy_ref come from the rule behind it (ties: a floor, then the highest
score, then policy order). ``intent_applied`` is true only when the action differs from
the action the same request would get without its intent.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shared.core.policy_model import Band, Category, Policy
from shared.core.policy_refs import anchor_for, clause_refs, resolve_policy_ref
from shared.errors import PoisonMessage
from shared.schemas import (
    ACTION_RANK,
    Action,
    CategoryResult,
    Decision,
    Detection,
    Intent,
    ModerationRequest,
    RuleFired,
    most_restrictive,
)

__all__ = ["UnknownProfile", "anchor_for", "clause_refs", "evaluate", "resolve_policy_ref"]


class UnknownProfile(PoisonMessage):
    """The request names a profile the policy does not define (dead-lettered)."""

    error_type = "unknown_profile"


@dataclass(frozen=True, slots=True)
class _Fired:
    rule: RuleFired
    score: float
    floor: bool
    order: int


#: Which band the ``unsafe`` signal reads a category at.
_Raise = Literal["last", "first"]


@dataclass(frozen=True, slots=True)
class _Judgement:
    results: tuple[CategoryResult, ...]
    fired: tuple[_Fired, ...]
    action: Action
    primary: _Fired | None


def evaluate(detection: Detection, request: ModerationRequest, policy: Policy) -> Decision:
    """Decide what the policy says about ``detection`` for ``request`` (pure, no I/O)."""
    if request.profile not in policy.profiles:
        known = ", ".join(sorted(policy.profiles))
        raise UnknownProfile(f"unknown profile '{request.profile}' (known: {known})")
    judged = _judge(detection, request, policy, request.intent)
    applied = False
    if request.intent is not None:
        applied = _judge(detection, request, policy, None).action != judged.action
    primary = judged.primary
    return Decision(
        action=judged.action,
        profile=request.profile,
        categories=judged.results,
        rules_fired=tuple(f.rule for f in judged.fired),
        primary_category=primary.rule.category if primary else None,
        policy_ref=primary.rule.policy_ref if primary else None,
        policy_version=policy.version_for(request.tenant_id),
        intent_applied=applied,
    )


class _Rules:
    """Collects the rules that fire for one request under one profile."""

    def __init__(self, policy: Policy, profile: str) -> None:
        self.policy, self.profile = policy, profile
        self.fired: list[_Fired] = []

    def fire(self, rule: str, cid: str, action: Action, clause: int, score: float) -> None:
        ref = self.policy.ref(self.profile, cid, clause)
        self.fired.append(
            _Fired(
                RuleFired(rule=rule, category=cid, action=action, policy_ref=ref),
                score,
                rule.startswith("floor."),
                list(self.policy.categories).index(cid),
            )
        )


def _judge(
    detection: Detection, request: ModerationRequest, policy: Policy, intent: Intent | None
) -> _Judgement:
    rules = _Rules(policy, request.profile)
    results: list[CategoryResult] = []
    lead, at = _corroborated(detection, request, policy, intent)
    for cid, category in policy.categories.items():
        if cid == "blocklist":
            result = _judge_blocklist(detection, policy, request.tenant_id, rules)
        else:
            score = detection.scores.get(cid, 0.0)
            result = _judge_category(
                cid, category, score, request, intent, rules, raised_to=at if cid == lead else None
            )
        if result is not None:
            results.append(result)

    pii_action = _pii_action(policy, request.profile, request.tenant_id)
    if detection.pii and pii_action != "allow":
        rules.fire(f"pii.{pii_action}", policy.pii.category, pii_action, policy.pii.clause, 1.0)

    fired = rules.fired
    final = most_restrictive(*(f.rule.action for f in fired))
    candidates = [f for f in fired if f.rule.action == final and final != "allow"]
    primary = min(candidates, key=lambda f: (not f.floor, -f.score, f.order), default=None)
    return _Judgement(tuple(results), tuple(fired), final, primary)


def _judge_category(
    cid: str,
    category: Category,
    score: float,
    request: ModerationRequest,
    intent: Intent | None,
    rules: _Rules,
    *,
    raised_to: _Raise | None = None,
) -> CategoryResult | None:
    """Bands (relaxed by intent where allowed), then the floor; None if the profile ignores it.

    ``raised_to``: the policy's ``unsafe`` signal picked this category, so its bands are read
    at their ``last`` (or ``first``) band's minimum, or the score if higher; the rule that
    fires is ``unsafe.<category>`` when that changed the band.
    """
    policy = rules.policy
    bands, source = _bands_for(policy, request.profile, request.tenant_id, cid)
    floor = policy.floors.get(cid)
    if not bands and floor is None:
        return None
    shift, cap = _relaxation(policy, category, intent)
    banded = score
    if raised_to is not None and bands:
        banded = max(score, (bands[-1] if raised_to == "last" else bands[0]).min)
    base = _band_at(bands, banded, 0.0)
    band = _band_at(bands, banded, shift)
    action = _soft(band.action if band else "allow", raised_to)
    if cap is not None and ACTION_RANK[action] > ACTION_RANK[cap]:
        action = cap
    if action != _soft(base.action if base else "allow", raised_to) and category.intent is not None:
        rules.fire(f"intent.{cid}", cid, action, category.intent.clause, score)
    elif band is not None and band != _band_at(bands, score, shift):
        rules.fire(f"unsafe.{cid}", cid, action, band.clause, score)
    elif band is not None:
        rules.fire(source, cid, action, band.clause, score)
    thresholds = [_shifted(bands[0].min, shift)] if bands else []
    if floor is not None:
        thresholds.append(floor.min)
        if score >= floor.min:
            rules.fire(f"floor.{cid}", cid, floor.action, floor.clause, score)
            action = most_restrictive(action, floor.action)
    threshold = min(thresholds)
    return CategoryResult(
        id=cid, score=score, threshold=threshold, triggered=score >= threshold, action=action
    )


def _soft(action: Action, raised_to: _Raise | None) -> Action:
    """A first band reached only through an uncorroborated ``unsafe`` signal never refuses,
    escalates or redacts: those answer with guidance instead (a referral stays one)."""
    if raised_to == "first" and ACTION_RANK[action] > ACTION_RANK["refer"]:
        return "allow_with_guidance"
    return action


def _corroborated(
    detection: Detection, request: ModerationRequest, policy: Policy, intent: Intent | None
) -> tuple[str | None, _Raise | None]:
    """The category the ``unsafe`` signal raises (see ``HarmSignal``) and to which band, if
    any: the highest-scoring one whose first band the request reached, to its last band
    (ties: taxonomy order); with ``uncorroborated: first_band`` and none reached, the
    highest-scoring one with bands, to its first band."""
    signal = policy.unsafe
    if signal is None or detection.scores.get("unsafe", 0.0) < signal.min:
        return None, None
    lead: str | None = None
    fallback: str | None = None
    best = fallback_best = -1.0
    for cid, category in policy.categories.items():
        bands, _ = _bands_for(policy, request.profile, request.tenant_id, cid)
        if not bands:
            continue
        score = detection.scores.get(cid, 0.0)
        shift, _cap = _relaxation(policy, category, intent)
        if _band_at(bands, score, shift) is not None and score > best:
            lead, best = cid, score
        if score > fallback_best:
            fallback, fallback_best = cid, score
    if lead is not None:
        return lead, "last"
    if signal.uncorroborated == "first_band" and fallback is not None:
        return fallback, "first"
    return None, None


def _judge_blocklist(
    detection: Detection, policy: Policy, tenant_id: str, rules: _Rules
) -> CategoryResult | None:
    """One rule per list scope (tenant or global) with a blocklist hit."""
    tenant = policy.tenants.get(tenant_id)
    tenant_ids = {e.id for e in tenant.lists.blocklist} if tenant else set()
    # Entries tagged with a taxonomy category scored that category (the lexical detector):
    # its bands and floor judge them, citing its clauses. Only plain blocklist entries
    # fire the blocklist rule.
    scopes = {
        f"tenant.{tenant_id}.blocklist" if hit.entry_id in tenant_ids else "global.blocklist"
        for hit in detection.hits
        if hit.list == "blocklist" and hit.category == "blocklist"
    }
    if not scopes:
        return None
    rule = policy.blocklist
    for scope in sorted(scopes):
        rules.fire(scope, "blocklist", rule.action, rule.clause, 1.0)
    return CategoryResult(
        id="blocklist", score=1.0, threshold=1.0, triggered=True, action=rule.action
    )


def _bands_for(
    policy: Policy, profile: str, tenant_id: str, cid: str
) -> tuple[tuple[Band, ...], str]:
    """The bands that apply and the id of the rule they fire as."""
    tenant = policy.tenants.get(tenant_id)
    override = tenant.profiles.get(profile) if tenant else None
    if override is not None and cid in override.categories:
        return override.categories[cid].bands, f"tenant.{tenant_id}.{cid}"
    own = policy.profiles[profile].categories.get(cid)
    return (own.bands if own else ()), f"profile.{profile}.{cid}"


def _pii_action(policy: Policy, profile: str, tenant_id: str) -> Action:
    tenant = policy.tenants.get(tenant_id)
    override = tenant.profiles.get(profile) if tenant else None
    if override is not None and override.pii_action is not None:
        return override.pii_action
    return policy.profiles[profile].pii_action


def _relaxation(
    policy: Policy, category: Category, intent: Intent | None
) -> tuple[float, Action | None]:
    """(threshold shift, action cap) a declared intent earns for ``category``."""
    rule = category.intent
    if intent is None or not category.relaxable or rule is None:
        return 0.0, None
    if intent.purpose not in rule.purposes:
        return 0.0, None
    if intent.verified:
        return policy.intent.verified_shift, rule.verified_cap
    return policy.intent.unverified_shift, None


@functools.lru_cache(maxsize=4096)
def _shifted(minimum: float, shift: float) -> float:
    # Cached: a policy has a few dozen (minimum, shift) pairs and every evaluation asks
    # for most of them (about 57 calls per request); the rounding was a third of evaluate.
    return min(1.0, round(minimum + shift, 6))


def _band_at(bands: Sequence[Band], score: float, shift: float) -> Band | None:
    found: Band | None = None
    for band in bands:
        if score >= _shifted(band.min, shift):
            found = band
    return found

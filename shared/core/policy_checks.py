"""Consistency checks a policy must pass, each problem named by its field path.

Structural checks (types, unknown fields, ranges) are pydantic's; these are the rules
across fields: known categories and clauses, ascending bands whose actions never get
less restrictive, floors no profile or tenant undercuts, tenants relaxing only
relaxable categories, unique list entry ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from shared.schemas import ACTION_RANK, Action

if TYPE_CHECKING:
    from shared.core.lists import TermLists
    from shared.core.policy_model import Band, Bands, Policy, Profile, Tenant

__all__ = ["Loc", "PolicyProblems", "Problem", "action_at", "check_policy", "format_loc"]

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

_LEXICAL_ONLY = "the 'blocklist' category is decided by list hits; it takes no bands or floors"


def format_loc(loc: Iterable[str | int]) -> str:
    """``("profiles", "p", "bands", 1, "min")`` → ``profiles.p.bands[1].min``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class PolicyProblems(ValueError):
    """Raised when a policy is inconsistent; ``problems`` lists (field path, message) pairs."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{format_loc(loc)}: {msg}" for loc, msg in self.problems))


def check_policy(policy: Policy) -> list[Problem]:
    """Every cross-field problem of ``policy`` (empty when it is consistent)."""
    out: list[Problem] = []
    _check_categories(policy, out)
    for cid, floor in policy.floors.items():
        if cid == "blocklist":
            out.append((("floors", cid), _LEXICAL_ONLY))
        if _known(policy, cid, ("floors", cid), out):
            _check_clause(policy, cid, floor.clause, ("floors", cid, "clause"), out)
        if floor.action == "allow":
            out.append((("floors", cid, "action"), "a floor must be more restrictive than allow"))
    if "blocklist" not in policy.categories:
        out.append(
            (("blocklist",), "the policy needs a 'blocklist' category for this rule to cite")
        )
    else:
        _check_clause(policy, "blocklist", policy.blocklist.clause, ("blocklist", "clause"), out)
    if policy.blocklist.action == "allow":
        out.append((("blocklist", "action"), "must be more restrictive than allow"))
    if _known(policy, policy.pii.category, ("pii", "category"), out):
        _check_clause(policy, policy.pii.category, policy.pii.clause, ("pii", "clause"), out)
    if policy.intent.verified_shift < policy.intent.unverified_shift:
        out.append((("intent", "verified_shift"), "must be ≥ intent.unverified_shift"))
    for name, profile in policy.profiles.items():
        for cid, bands in profile.categories.items():
            _check_bands(policy, cid, bands, ("profiles", name, "categories", cid), out)
    _check_lists(policy, policy.lists, ("lists",), set(), out)
    global_ids = {e.id for e in policy.lists.blocklist + policy.lists.allowlist}
    for tid, tenant in policy.tenants.items():
        _check_tenant(policy, tid, tenant, global_ids, out)
    return out


def _check_categories(policy: Policy, out: list[Problem]) -> None:
    for cid, cat in policy.categories.items():
        loc: Loc = ("categories", cid)
        if cat.relaxable and cat.intent is None:
            out.append(((*loc, "intent"), "a relaxable category needs an intent rule"))
        if not cat.relaxable and cat.intent is not None:
            out.append(((*loc, "relaxable"), "must be true when an intent rule is given"))
        if cat.intent is not None:
            _check_clause(policy, cid, cat.intent.clause, (*loc, "intent", "clause"), out)
            if cat.intent.verified_cap == "allow":
                out.append(
                    ((*loc, "intent", "verified_cap"), "must be more restrictive than allow")
                )


def _known(policy: Policy, cid: str, loc: Loc, out: list[Problem]) -> bool:
    if cid in policy.categories:
        return True
    out.append((loc, f"unknown category '{cid}' (not in categories)"))
    return False


def _check_clause(policy: Policy, cid: str, number: int, loc: Loc, out: list[Problem]) -> None:
    if number not in policy.categories[cid].clauses:
        out.append((loc, f"clause {number} is not defined in categories.{cid}.clauses"))


def _rank(action: Action) -> int:
    return ACTION_RANK[action]


def action_at(bands: Sequence[Band], score: float) -> Action:
    """The action ``bands`` ask for at ``score`` (allow below the lowest band)."""
    action: Action = "allow"
    for band in bands:
        if score >= band.min:
            action = band.action
    return action


def _check_bands(policy: Policy, cid: str, bands: Bands, loc: Loc, out: list[Problem]) -> None:
    if not _known(policy, cid, loc, out):
        return
    if cid == "blocklist":
        out.append((loc, _LEXICAL_ONLY))
    for i, band in enumerate(bands.bands):
        here: Loc = (*loc, "bands", i)
        if band.action == "allow":
            out.append(((*here, "action"), "a band must be more restrictive than allow"))
        if i > 0:
            prev = bands.bands[i - 1]
            if band.min <= prev.min:
                out.append(((*here, "min"), f"must be > previous band's min ({prev.min})"))
            if _rank(band.action) < _rank(prev.action):
                out.append(
                    ((*here, "action"), f"must be at least as restrictive as '{prev.action}'")
                )
        _check_clause(policy, cid, band.clause, (*here, "clause"), out)
    floor = policy.floors.get(cid)
    if floor is not None:
        got = action_at(bands.bands, floor.min)
        if _rank(got) < _rank(floor.action):
            out.append(
                (
                    (*loc, "bands"),
                    f"less restrictive than floors.{cid}: at score {floor.min} these bands ask "
                    f"for '{got}' but the floor requires '{floor.action}'",
                )
            )


def _check_tenant(
    policy: Policy, tid: str, tenant: Tenant, global_ids: set[str], out: list[Problem]
) -> None:
    base_loc: Loc = ("tenants", tid)
    for pname, override in tenant.profiles.items():
        loc: Loc = (*base_loc, "profiles", pname)
        base = policy.profiles.get(pname)
        if base is None:
            out.append((loc, f"unknown profile '{pname}' (not in profiles)"))
            continue
        for cid, bands in override.categories.items():
            cloc: Loc = (*loc, "categories", cid)
            _check_bands(policy, cid, bands, cloc, out)
            if cid in policy.categories and not policy.categories[cid].relaxable:
                _check_not_relaxed(base, pname, cid, bands, cloc, out)
        privacy = policy.categories.get(policy.pii.category)
        pii = override.pii_action
        relaxable = privacy is not None and privacy.relaxable
        if pii is not None and not relaxable and _rank(pii) < _rank(base.pii_action):
            out.append(
                (
                    (*loc, "pii_action"),
                    f"'{policy.pii.category}' is not relaxable: may only tighten "
                    f"'{base.pii_action}'",
                )
            )
    _check_lists(policy, tenant.lists, (*base_loc, "lists"), global_ids, out)


def _check_not_relaxed(
    base: Profile, pname: str, cid: str, bands: Bands, loc: Loc, out: list[Problem]
) -> None:
    """A tenant's bands for a non-relaxable category must be at least as restrictive everywhere."""
    base_bands = base.categories[cid].bands if cid in base.categories else ()
    # Both are step functions: comparing at every breakpoint compares them everywhere.
    for score in sorted({0.0, *(b.min for b in base_bands), *(b.min for b in bands.bands)}):
        mine, theirs = action_at(bands.bands, score), action_at(base_bands, score)
        if _rank(mine) < _rank(theirs):
            out.append(
                (
                    (*loc, "bands"),
                    f"'{cid}' is not relaxable: at score {score} these bands ask for '{mine}' "
                    f"where profiles.{pname} asks for '{theirs}'",
                )
            )
            return


def _check_lists(
    policy: Policy, lists: TermLists, loc: Loc, taken: set[str], out: list[Problem]
) -> None:
    seen = set(taken)
    for kind in ("blocklist", "allowlist"):
        for i, entry in enumerate(getattr(lists, kind)):
            if entry.id in seen:
                out.append(((*loc, kind, i, "id"), f"duplicate list entry id '{entry.id}'"))
            seen.add(entry.id)
            _known(policy, entry.category, (*loc, kind, i, "category"), out)

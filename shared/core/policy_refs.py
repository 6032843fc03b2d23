"""Clause references (``<profile>@<version>#<category>.<clause>``): resolving and anchoring."""

from __future__ import annotations

import re

from shared.core.policy_model import Clause, Policy

__all__ = ["anchor_for", "clause_refs", "resolve_policy_ref"]

_REF = re.compile(
    r"^(?P<profile>[a-z][a-z0-9_]*)@(?P<version>\d+)#(?P<category>[a-z][a-z0-9_]*)\.(?P<clause>\d+)$"
)


def resolve_policy_ref(policy: Policy, ref: str) -> Clause:
    """The clause ``ref`` (``<profile>@<version>#<category>.<clause>``) cites.

    Raises ValueError when ``ref`` is malformed and KeyError when it names a profile,
    version, category or clause this policy does not have.
    """
    match = _REF.match(ref)
    if match is None:
        raise ValueError(
            f"malformed policy_ref {ref!r}: expected <profile>@<version>#<category>.<n>"
        )
    if match["profile"] not in policy.profiles:
        raise KeyError(f"{ref}: unknown profile '{match['profile']}'")
    if int(match["version"]) != policy.version:
        raise KeyError(f"{ref}: policy {policy.id} is at version {policy.version}")
    category, number = match["category"], int(match["clause"])
    if category not in policy.categories or number not in policy.categories[category].clauses:
        raise KeyError(f"{ref}: no clause {number} in category '{category}'")
    return policy.clause(category, number)


def clause_refs(policy: Policy) -> tuple[str, ...]:
    """Every clause reference the policy can cite: each profile, category and clause."""
    return tuple(
        policy.ref(profile, cid, number)
        for profile in policy.profiles
        for cid, category in policy.categories.items()
        for number in category.clauses
    )


def anchor_for(ref: str) -> str:
    """The HTML anchor id of the clause ``ref`` in the rendered summary (injective on refs).

    ``public_assistant@3#weapons_cbrn.1`` → ``public_assistant-v3--weapons_cbrn-1``.
    """
    return ref.replace("@", "-v").replace("#", "--").replace(".", "-")

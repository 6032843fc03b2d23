"""The policy as data: frozen models for categories, clauses, profiles, floors, intent and tenants.

A :class:`Policy` is configuration: the loader (``shared.policy.loader``) builds it from
YAML, and constructing one runs every consistency check (``policy_checks``), so an
invalid policy can never exist in memory. Evaluation lives in ``shared.core.policy``.

Terms:

* a *category* has plain-language numbered *clauses*; a clause is cited as
  ``<profile>@<version>#<category>.<clause>`` (see :meth:`Policy.ref`);
* a *profile* maps categories to ascending *bands* (score ≥ ``min`` → ``action``);
* a *floor* is a (min score → action) rule per category that nothing may relax;
* a *tenant* may override bands per profile, add term lists, and opt out of caching.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.audit.events import TextMode
from shared.core.lists import TermLists
from shared.core.policy_checks import PolicyProblems, check_policy
from shared.schemas import Action, Purpose

__all__ = [
    "Band",
    "Bands",
    "Category",
    "Clause",
    "ClauseRule",
    "Floor",
    "IntentRule",
    "IntentSettings",
    "PiiRule",
    "Policy",
    "PolicyProblems",
    "Profile",
    "Tenant",
    "TenantProfile",
]

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PolicyId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
TenantId = Annotated[str, Field(pattern=r"^[^\s@+#]{1,128}$")]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
ClauseNo = Annotated[int, Field(ge=1)]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Clause(_Config):
    """One numbered clause of a category, as end users read it."""

    category: str
    number: int
    text: str


class IntentRule(_Config):
    """Which declared purposes may relax a relaxable category, and how far when verified."""

    purposes: tuple[Purpose, ...] = Field(min_length=1)
    clause: ClauseNo = Field(description="Clause explaining what a declared purpose changes.")
    verified_cap: Action = Field(
        default="allow_with_guidance",
        description="With a verified purpose the category asks for at most this action.",
    )


class Category(_Config):
    """A category of content: title, end-user summary, clauses and relaxability."""

    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    clauses: dict[ClauseNo, str] = Field(min_length=1)
    relaxable: bool = False
    intent: IntentRule | None = None


class Band(_Config):
    """From score ``min`` upward (until the next band) the category asks for ``action``."""

    min: Score
    action: Action
    clause: ClauseNo


class Bands(_Config):
    """A profile's ascending bands for one category."""

    bands: tuple[Band, ...] = Field(min_length=1)


class Floor(_Config):
    """A hard floor: from ``min`` upward the action is at least ``action``, whatever else says."""

    min: Score = Field(gt=0.0)
    action: Action = "refuse"
    clause: ClauseNo


class HarmSignal(_Config):
    """The classifier's ``unsafe`` score: the calibrated probability that *any* harmful
    category applies, with a threshold validated on its own.

    Category scores split that probability between categories, and each is weaker than it on
    harmful requests (a request to build a pipe bomb "to hurt as many people as possible"
    scored unsafe 0.96 and violence 0.79: the violence band alone gave guidance). From
    ``min`` upward, the highest-scoring category that reached its first band is judged as if
    its score stood at its last band; a declared intent shifts and caps that as it does any
    score.

    ``uncorroborated`` says what happens from ``min`` upward when *no* category reached its
    first band: ``allow`` (nothing changes), or ``first_band``: the highest-scoring category
    the profile has bands for is judged as if its score stood at its first band, so a
    request the classifier is confident is harmful is not answered as if nothing were there.
    That never refuses, escalates or redacts: a first band that would is read as an answer
    with guidance (a referral stays a referral). A declared intent shifts the band as usual.
    """

    min: Score = Field(gt=0.0)
    uncorroborated: Literal["allow", "first_band"] = "allow"


class ClauseRule(_Config):
    """A deterministic rule (blocklist hits) with its action and the clause it cites."""

    action: Action = "refuse"
    clause: ClauseNo


class PiiRule(_Config):
    """The clause cited when personal data is handled (the action is per profile)."""

    category: Name = "privacy"
    clause: ClauseNo


class IntentSettings(_Config):
    """How far a declared purpose shifts a relaxable category's band thresholds upward."""

    unverified_shift: Score = 0.1
    verified_shift: Score = 0.2


class Profile(_Config):
    """A deployment profile: bands per category and what to do with personal data."""

    title: str = Field(min_length=1)
    description: str = ""
    pii_action: Action = Field(default="redact", description="Action when PII spans are found.")
    categories: dict[Name, Bands] = Field(default_factory=dict)


class TenantProfile(_Config):
    """A tenant's changes to one profile: replacement bands per category, PII action."""

    pii_action: Action | None = None
    categories: dict[Name, Bands] = Field(default_factory=dict)


class Tenant(_Config):
    """A tenant's override: its own version, term lists, profile changes, cache opt-out and
    how much of its text the audit trail keeps."""

    version: int = Field(ge=1)
    cache_allowed: bool = True
    audit_text: TextMode = Field(
        default="none",
        description="Text in audit events: none (a keyed hash only), redacted (PII masked), full.",
    )
    lists: TermLists = TermLists()
    profiles: dict[Name, TenantProfile] = Field(default_factory=dict)


class Policy(_Config):
    """One versioned policy: categories, floors, profiles, intent settings and tenants."""

    id: PolicyId
    version: int = Field(ge=1)
    title: str = Field(min_length=1)
    intro: str = ""
    intent: IntentSettings = IntentSettings()
    categories: dict[Name, Category] = Field(min_length=1)
    floors: dict[Name, Floor] = Field(default_factory=dict)
    unsafe: HarmSignal | None = None
    blocklist: ClauseRule
    pii: PiiRule
    lists: TermLists = TermLists()
    profiles: dict[Name, Profile] = Field(min_length=1)
    tenants: dict[TenantId, Tenant] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        problems = check_policy(self)
        if problems:
            raise PolicyProblems(problems)
        return self

    def ref(self, profile: str, category: str, clause: int) -> str:
        """The policy_ref of a clause as seen from ``profile``."""
        return f"{profile}@{self.version}#{category}.{clause}"

    def clause(self, category: str, number: int) -> Clause:
        """The clause ``number`` of ``category`` (KeyError when either is unknown)."""
        return Clause(
            category=category, number=number, text=self.categories[category].clauses[number]
        )

    def version_for(self, tenant_id: str) -> str:
        """``<policy>@<version>``, plus ``+<tenant>@<version>`` when the tenant has an override."""
        base = f"{self.id}@{self.version}"
        tenant = self.tenants.get(tenant_id)
        return base if tenant is None else f"{base}+{tenant_id}@{tenant.version}"

    def fingerprint(self, tenant_id: str) -> str:
        """:meth:`version_for` plus a content digest for cache keys (catches unbumped edits)."""
        digest = hashlib.sha256(self._global_digest.encode())
        tenant = self.tenants.get(tenant_id)
        if tenant is not None:
            digest.update(tenant_id.encode() + b"\0" + tenant.model_dump_json().encode())
        return f"{self.version_for(tenant_id)}#{digest.hexdigest()[:16]}"

    def lists_for(self, tenant_id: str) -> TermLists:
        """The global term lists followed by the tenant's (what the detection worker matches)."""
        tenant = self.tenants.get(tenant_id)
        return self.lists if tenant is None else self.lists.merged(tenant.lists)

    def cache_allowed(self, tenant_id: str) -> bool:
        """Whether verdicts for this tenant may be cached (tenants may opt out)."""
        tenant = self.tenants.get(tenant_id)
        return True if tenant is None else tenant.cache_allowed

    def audit_text(self, tenant_id: str) -> TextMode:
        """How much of this tenant's text its audit events keep (``none`` unless overridden)."""
        tenant = self.tenants.get(tenant_id)
        return "none" if tenant is None else tenant.audit_text

    @cached_property
    def _global_digest(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude={"tenants"}).encode()).hexdigest()

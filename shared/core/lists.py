"""Tenant blocklists and allowlists as configuration data (exact terms or regular expressions)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ListEntry", "TermLists"]


class ListEntry(BaseModel):
    """One list entry: exactly one of ``term`` (matched after normalisation) or ``regex``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        min_length=1, max_length=64, description="Stable id; reported instead of the text."
    )
    term: str | None = Field(default=None, min_length=1, description="Exact term (word-bounded).")
    regex: str | None = Field(default=None, min_length=1, description="Regex over normalised text.")
    category: str = Field(default="blocklist", description="Category a blocklist hit reports.")

    @model_validator(mode="after")
    def _one_pattern(self) -> ListEntry:
        if (self.term is None) == (self.regex is None):
            raise ValueError(f"list entry {self.id!r} needs exactly one of 'term' or 'regex'")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"list entry {self.id!r}: invalid regex: {exc}") from None
        return self


class TermLists(BaseModel):
    """A blocklist and an allowlist. Allowlist matches suppress overlapping blocklist matches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blocklist: tuple[ListEntry, ...] = ()
    allowlist: tuple[ListEntry, ...] = ()

    def merged(self, other: TermLists) -> TermLists:
        """These lists followed by ``other``'s (e.g. global lists plus a tenant's)."""
        return TermLists(
            blocklist=self.blocklist + other.blocklist, allowlist=self.allowlist + other.allowlist
        )

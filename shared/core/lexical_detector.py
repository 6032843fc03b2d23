"""The lexical detector: tenant block/allowlists and validated PII behind the Detector protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from shared.core.detection import DetectionInput, Findings
from shared.core.lexical import match
from shared.core.lists import TermLists
from shared.core.pii import DEFAULT_REGIONS, find_pii

__all__ = ["LEXICAL_VERSION", "LexicalDetector"]

#: Bump when matching or PII rules change what a text yields (it is part of cache keys).
LEXICAL_VERSION: Final = "lexical@1"


class LexicalDetector:
    """Blocklist hits score their category 1.0; allowlist hits and PII are reported, not scored.

    PII is reported only as spans: the policy maps kinds to actions (e.g. redact),
    and the classifier owns the ``privacy`` score. ``lists_for`` maps a tenant id to
    its merged lists; returning the same object per tenant keeps compiled matchers
    cached by identity (equal lists are still found by value, more slowly).
    """

    __slots__ = ("_lists_for", "_pii", "_regions")

    def __init__(
        self,
        *,
        lists_for: Callable[[str], TermLists],
        pii: bool = True,
        pii_regions: tuple[str, ...] = DEFAULT_REGIONS,
    ) -> None:
        self._lists_for = lists_for
        self._pii = pii
        self._regions = pii_regions

    @property
    def version(self) -> str:
        return LEXICAL_VERSION if self._pii else f"{LEXICAL_VERSION}-nopii"

    def detect(self, items: Sequence[DetectionInput]) -> list[Findings]:
        return [self._one(item) for item in items]

    def _one(self, item: DetectionInput) -> Findings:
        hits = match(self._lists_for(item.tenant_id), item.text)
        pii = find_pii(item.text, regions=self._regions, locale=item.locale) if self._pii else ()
        scores = {h.category: 1.0 for h in hits if h.list == "blocklist"}
        return Findings(scores=scores, hits=hits, pii=pii)

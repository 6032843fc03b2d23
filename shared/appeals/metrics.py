"""Appeal metrics: the runtime false-positive signal, by category and profile.

An overturned appeal is a refusal that should not have been: the share of appeals
overturned, per profile, is what the ``ClearpathAppealOverturnRateRising`` alert watches
(docs/METRICS.md). Labels are bounded: policy categories (``none`` when there is none),
profiles and the fixed outcome names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from shared.appeals.store import AppealRecord
from shared.core.appeals import APPEAL_OUTCOMES

__all__ = ["AppealMetrics"]


@dataclass(frozen=True)
class AppealMetrics:
    """``clearpath_appeals_total`` and ``clearpath_appeal_reviews_total`` on ``registry``;
    an :class:`~shared.appeals.service.AppealObserver`."""

    appeals: Counter
    reviews: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> AppealMetrics:
        return cls(
            appeals=Counter(
                "clearpath_appeals_total",
                "Appeals filed, by their automatic outcome (overturned, upheld, queued).",
                ["category", "profile", "outcome"],
                registry=registry,
            ),
            reviews=Counter(
                "clearpath_appeal_reviews_total",
                "Queued appeals a reviewer decided, by outcome (overturned, upheld).",
                ["category", "profile", "outcome"],
                registry=registry,
            ),
        )

    def initialize(self, *, profiles: Iterable[str], categories: Iterable[str]) -> None:
        """Export every (category, profile, outcome) series at 0 from the start.

        A counter series that first appears at 1 shows no increase to ``rate()``, so the
        first appeals of a quiet profile would be invisible to the overturn ratio. The label
        sets are bounded by the policy (its profiles and categories, plus ``none``).
        """
        for profile in profiles:
            for category in (*categories, "none"):
                for outcome in APPEAL_OUTCOMES:
                    self.appeals.labels(category, profile, outcome)
                for reviewed in ("overturned", "upheld"):
                    self.reviews.labels(category, profile, reviewed)

    def filed(self, record: AppealRecord) -> None:
        self.appeals.labels(record.category or "none", record.profile, record.outcome).inc()

    def reviewed(self, record: AppealRecord) -> None:
        outcome = record.review_outcome or "upheld"
        self.reviews.labels(record.category or "none", record.profile, outcome).inc()

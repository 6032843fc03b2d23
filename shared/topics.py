"""Topic names and consumer groups: the single source for every producer and consumer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALL_TOPICS",
    "APPEALS",
    "APPEAL_OUTCOMES",
    "AUDIT",
    "DEADLETTER",
    "DECISIONS",
    "DETECTIONS",
    "GROUP_APPEALS",
    "GROUP_AUDIT",
    "GROUP_DETECTION",
    "GROUP_POLICY",
    "GROUP_RESPONSE",
    "REQUESTS",
    "VERDICTS",
    "GroupSet",
    "TopicSet",
]

REQUESTS: Final = "clearpath.requests.v1"
DETECTIONS: Final = "clearpath.detections.v1"
DECISIONS: Final = "clearpath.decisions.v1"
VERDICTS: Final = "clearpath.verdicts.v1"
DEADLETTER: Final = "clearpath.deadletter.v1"
APPEALS: Final = "clearpath.appeals.v1"
AUDIT: Final = "clearpath.audit.v1"
APPEAL_OUTCOMES: Final = "clearpath.appeal-outcomes.v1"

#: Every topic the stack creates.
ALL_TOPICS: Final = (
    REQUESTS,
    DETECTIONS,
    DECISIONS,
    VERDICTS,
    DEADLETTER,
    AUDIT,
    APPEALS,
    APPEAL_OUTCOMES,
)

GROUP_DETECTION: Final = "clearpath-detection"
GROUP_POLICY: Final = "clearpath-policy"
GROUP_RESPONSE: Final = "clearpath-response"
GROUP_AUDIT: Final = "clearpath-audit"
GROUP_APPEALS: Final = "clearpath-appeals"


@dataclass(frozen=True, slots=True)
class TopicSet:
    """The topic names one pipeline uses. Production uses :meth:`default`; tests namespace them."""

    requests: str = REQUESTS
    detections: str = DETECTIONS
    decisions: str = DECISIONS
    verdicts: str = VERDICTS
    deadletter: str = DEADLETTER
    audit: str = AUDIT
    appeals: str = APPEALS
    appeal_outcomes: str = APPEAL_OUTCOMES

    @classmethod
    def default(cls) -> TopicSet:
        return cls()

    def namespaced(self, suffix: str) -> TopicSet:
        """Same topics with ``.suffix`` appended: isolated pipelines on one broker (tests)."""
        return TopicSet(*(f"{name}.{suffix}" for name in self.all()))

    def all(self) -> tuple[str, ...]:
        return (
            self.requests,
            self.detections,
            self.decisions,
            self.verdicts,
            self.deadletter,
            self.audit,
            self.appeals,
            self.appeal_outcomes,
        )


@dataclass(frozen=True, slots=True)
class GroupSet:
    """Consumer group ids of the workers."""

    detection: str = GROUP_DETECTION
    policy: str = GROUP_POLICY
    response: str = GROUP_RESPONSE
    audit: str = GROUP_AUDIT
    appeals: str = GROUP_APPEALS

    def namespaced(self, suffix: str) -> GroupSet:
        return GroupSet(
            f"{self.detection}.{suffix}",
            f"{self.policy}.{suffix}",
            f"{self.response}.{suffix}",
            f"{self.audit}.{suffix}",
            f"{self.appeals}.{suffix}",
        )

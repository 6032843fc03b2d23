"""Topic names and consumer groups: the single source for every producer and consumer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ALL_TOPICS",
    "APPEALS",
    "AUDIT",
    "DEADLETTER",
    "DECISIONS",
    "DETECTIONS",
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

#: Topics the pipeline of the spine creates (appeals and audit arrive with later workers).
ALL_TOPICS: Final = (REQUESTS, DETECTIONS, DECISIONS, VERDICTS, DEADLETTER)

GROUP_DETECTION: Final = "clearpath-detection"
GROUP_POLICY: Final = "clearpath-policy"
GROUP_RESPONSE: Final = "clearpath-response"


@dataclass(frozen=True, slots=True)
class TopicSet:
    """The topic names one pipeline uses. Production uses :meth:`default`; tests namespace them."""

    requests: str = REQUESTS
    detections: str = DETECTIONS
    decisions: str = DECISIONS
    verdicts: str = VERDICTS
    deadletter: str = DEADLETTER

    @classmethod
    def default(cls) -> TopicSet:
        return cls()

    def namespaced(self, suffix: str) -> TopicSet:
        """Same topics with ``.suffix`` appended: isolated pipelines on one broker (tests)."""
        return TopicSet(*(f"{name}.{suffix}" for name in self.all()))

    def all(self) -> tuple[str, ...]:
        return (self.requests, self.detections, self.decisions, self.verdicts, self.deadletter)


@dataclass(frozen=True, slots=True)
class GroupSet:
    """Consumer group ids of the three workers."""

    detection: str = GROUP_DETECTION
    policy: str = GROUP_POLICY
    response: str = GROUP_RESPONSE

    def namespaced(self, suffix: str) -> GroupSet:
        return GroupSet(
            f"{self.detection}.{suffix}", f"{self.policy}.{suffix}", f"{self.response}.{suffix}"
        )

"""Topic names and consumer groups: the single source for every producer and consumer."""

from __future__ import annotations

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

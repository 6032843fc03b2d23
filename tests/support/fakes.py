"""Deterministic fakes with the production protocols (component tests only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.core.appeal import AppealIssuer
from shared.core.detection import DetectionInput, Findings
from shared.core.lexical_detector import LexicalDetector
from shared.pipeline import Pipeline
from shared.policy.loader import load_policy
from tests.support.factories import APPEAL_KEY, APPEAL_KID

__all__ = ["KeywordClassifier", "fake_pipeline"]

_DEFAULT_RULES: Mapping[str, Mapping[str, float]] = {
    "nerve agent": {"weapons_cbrn": 0.97},
    "poison my": {"violence": 0.92},
    "kill myself": {"self_harm": 0.95},
    "worthless": {"harassment": 0.9},
}


class KeywordClassifier:
    """A fake classifier: fixed scores for phrases it knows, a low floor for everything else.

    Same ``Detector`` protocol as the ONNX classifier; records the batch sizes it saw.
    """

    def __init__(self, rules: Mapping[str, Mapping[str, float]] = _DEFAULT_RULES) -> None:
        self.rules = rules
        self.batches: list[int] = []

    @property
    def version(self) -> str:
        return "fake-keyword@1"

    def detect(self, items: Sequence[DetectionInput]) -> list[Findings]:
        self.batches.append(len(items))
        out = []
        for item in items:
            scores: dict[str, float] = {"violence": 0.01}
            lowered = item.text.lower()
            for phrase, phrase_scores in self.rules.items():
                if phrase in lowered:
                    for category, score in phrase_scores.items():
                        scores[category] = max(score, scores.get(category, 0.0))
            out.append(Findings(scores=scores))
        return out


def fake_pipeline() -> Pipeline:
    """The default policy, the real lexical detector and the keyword classifier."""
    policy = load_policy(None)
    return Pipeline(
        detectors=(LexicalDetector(lists_for=policy.lists_for), KeywordClassifier()),
        policy=policy,
        sign_appeal=AppealIssuer(
            key=APPEAL_KEY, kid=APPEAL_KID, ttl_s=3600, instructions="Appeal."
        ),
    )

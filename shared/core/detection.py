"""The Detector protocol and how the findings of several detectors combine into one Detection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from shared.schemas import Detection, LexicalHit, PiiSpan

__all__ = ["DetectionInput", "Detector", "Findings", "combine", "run_detectors"]


@dataclass(frozen=True, slots=True)
class DetectionInput:
    """What a detector sees: the text, the tenant whose lists apply, the request's locale."""

    text: str
    tenant_id: str
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Findings:
    """One detector's findings for one text."""

    scores: Mapping[str, float] = field(default_factory=dict)
    hits: tuple[LexicalHit, ...] = ()
    pii: tuple[PiiSpan, ...] = ()


@runtime_checkable
class Detector(Protocol):
    """Anything that turns a batch of texts into findings, one per text, in order.

    ``version`` names the detector and what it serves (e.g. ``lexical@3`` or
    ``minilm-l6-int8@CPUExecutionProvider#ab12cd``); it becomes part of
    ``model_version`` on every verdict and of the cache key.
    """

    @property
    def version(self) -> str: ...

    def detect(self, items: Sequence[DetectionInput]) -> list[Findings]: ...


def combine(findings: Sequence[Findings], *, model_version: str) -> Detection:
    """Merge the findings of several detectors for one text: max score per category."""
    scores: dict[str, float] = {}
    hits: list[LexicalHit] = []
    pii: list[PiiSpan] = []
    for f in findings:
        for category, score in f.scores.items():
            scores[category] = max(score, scores.get(category, 0.0))
        hits.extend(f.hits)
        pii.extend(f.pii)
    pii.sort(key=lambda s: (s.start, s.end))
    return Detection(scores=scores, hits=tuple(hits), pii=tuple(pii), model_version=model_version)


def run_detectors(
    detectors: Sequence[Detector], items: Sequence[DetectionInput]
) -> list[Detection]:
    """Run every detector over the batch and combine per text."""
    model_version = "+".join(d.version for d in detectors) or "none"
    per_detector = [d.detect(items) for d in detectors]
    for d, out in zip(detectors, per_detector, strict=True):
        if len(out) != len(items):
            raise ValueError(
                f"detector {d.version} returned {len(out)} findings for {len(items)} texts"
            )
    return [
        combine([out[i] for out in per_detector], model_version=model_version)
        for i in range(len(items))
    ]

"""The Detector protocol and how the findings of several detectors combine into one Detection."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from shared.schemas import Detection, LexicalHit, PiiSpan

__all__ = [
    "DetectionInput",
    "Detector",
    "Findings",
    "combine",
    "run_detectors",
    "run_detectors_deriving",
]


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


#: From an input and the findings of the detectors that ran on it so far, a further input
#: to score in the same passes (or None).
Derive = Callable[[DetectionInput, Sequence[Findings]], DetectionInput | None]


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
    per_detector = [_detect(d, items) for d in detectors]
    return [
        combine([out[i] for out in per_detector], model_version=model_version)
        for i in range(len(items))
    ]


def run_detectors_deriving(
    detectors: Sequence[Detector], items: Sequence[DetectionInput], derive: Derive
) -> tuple[list[Detection], dict[int, tuple[DetectionInput, Detection]]]:
    """:func:`run_detectors`, plus the inputs ``derive`` makes from findings, scored with them.

    Detectors run in order. Before each one after the first, ``derive`` sees every item
    that has no derived input yet, with the findings of the detectors that already ran on
    it; what it returns joins the batch: this detector and the later ones score it in the
    same call as the items (one classifier pass instead of a second one later), and the
    earlier ones catch up on it in a call of their own. Returns the items' detections and,
    by item index, each derived input with its detection. Each detection is what
    :func:`run_detectors` would give that input.
    """
    model_version = "+".join(d.version for d in detectors) or "none"
    batch = list(items)
    derived: dict[int, int] = {}  # item index -> position in batch
    per_detector: list[list[Findings]] = []
    for k, detector in enumerate(detectors):
        if k > 0:
            for i, item in enumerate(items):
                if i not in derived:
                    extra = derive(item, [out[i] for out in per_detector])
                    if extra is not None:
                        derived[i] = len(batch)
                        batch.append(extra)
            for j, out in enumerate(per_detector):
                if len(out) < len(batch):
                    out.extend(_detect(detectors[j], batch[len(out) :]))
        per_detector.append(_detect(detector, batch))

    def detection(position: int) -> Detection:
        return combine([out[position] for out in per_detector], model_version=model_version)

    return (
        [detection(i) for i in range(len(items))],
        {i: (batch[at], detection(at)) for i, at in derived.items()},
    )


def _detect(detector: Detector, items: Sequence[DetectionInput]) -> list[Findings]:
    out = detector.detect(items)
    if len(out) != len(items):
        raise ValueError(
            f"detector {detector.version} returned {len(out)} findings for {len(items)} texts"
        )
    return out

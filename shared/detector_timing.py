"""Detector timing for the shell: a :class:`Detector` wrapper that reports each batch's time.

The pure core never reads the clock, so timing wraps the detectors from outside: the
worker hands the wrapped detectors to its pipeline and observes
``clearpath_inference_duration_seconds{detector}``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from shared.core.detection import DetectionInput, Detector, Findings
from shared.pipeline import Pipeline

__all__ = ["TimedDetector", "detector_label", "timed_pipeline"]


def detector_label(version: str) -> str:
    """A bounded metric label from a detector version: the part before ``@``
    (``lexical@3`` → ``lexical``, ``minilm-l6-int8@cpu#1b7c+head@2`` → ``minilm-l6-int8``)."""
    return version.split("@", 1)[0] or "unknown"


class TimedDetector:
    """``inner`` with every ``detect`` call timed and reported as ``observe(label, seconds)``."""

    def __init__(self, inner: Detector, *, observe: Callable[[str, float], None]) -> None:
        self._inner = inner
        self._observe = observe
        self._label = detector_label(inner.version)

    @property
    def version(self) -> str:
        return self._inner.version

    def detect(self, items: Sequence[DetectionInput]) -> list[Findings]:
        started = time.perf_counter()
        try:
            return self._inner.detect(items)
        finally:
            self._observe(self._label, time.perf_counter() - started)


def timed_pipeline(pipeline: Pipeline, *, observe: Callable[[str, float], None]) -> Pipeline:
    """``pipeline`` with each detector wrapped in a :class:`TimedDetector`."""
    detectors = tuple(TimedDetector(d, observe=observe) for d in pipeline.detectors)
    return dataclasses.replace(pipeline, detectors=detectors)

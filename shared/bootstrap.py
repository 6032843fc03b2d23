"""The one place collaborators are built from settings: detectors, policy, appeal signer."""

from __future__ import annotations

import functools
import logging

from shared.core.appeal import AppealIssuer
from shared.core.detection import Detector
from shared.core.lexical_detector import LexicalDetector
from shared.errors import ConfigurationError
from shared.pipeline import Pipeline
from shared.policy.loader import load_policy
from shared.secrets import appeal_key
from shared.settings import Settings

__all__ = ["build_detectors", "build_pipeline"]

log = logging.getLogger("clearpath.bootstrap")


def build_detectors(settings: Settings, *, lexical: LexicalDetector) -> tuple[Detector, ...]:
    """The lexical detector, plus the ONNX classifier unless ``detection.classifier`` is none."""
    detectors: list[Detector] = [lexical]
    choice = settings.detection.classifier
    if choice == "none":
        return tuple(detectors)
    try:
        from shared.inference.classifier import build_classifier  # heavy: imported only when used

        detectors.append(build_classifier(settings.model))
    except (ImportError, ConfigurationError) as exc:
        # An explicit choice (or an explicit GPU provider) never degrades silently.
        if choice == "onnx" or settings.model.provider in ("cuda", "tensorrt"):
            raise ConfigurationError(f"the ONNX classifier is not available: {exc}") from exc
        log.warning("classifier unavailable (%s); serving lexical and PII detection only", exc)
    return tuple(detectors)


def build_pipeline(settings: Settings, *, classifier: bool = True) -> Pipeline:
    """Everything the layers need, built once per process."""
    policy = load_policy(settings.policy.path)
    # One merged TermLists object per tenant keeps the compiled matchers cached by identity.
    lexical = LexicalDetector(lists_for=functools.lru_cache(maxsize=4096)(policy.lists_for))
    detectors = build_detectors(settings, lexical=lexical) if classifier else (lexical,)
    kid, key = appeal_key(settings)
    try:
        issuer = AppealIssuer(
            key=key,
            kid=kid,
            ttl_s=settings.response.appeal_ttl_s,
            instructions=settings.response.appeal_instructions,
        )
    except ValueError as exc:
        raise ConfigurationError(f"appeal signing key: {exc}") from exc
    return Pipeline(detectors=detectors, policy=policy, sign_appeal=issuer)

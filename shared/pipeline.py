"""The three layers composed: detection → policy → response, shared by workers and the CLI.

The Kafka workers call one layer each; ``clearpath check`` calls :meth:`Pipeline.check`.
Both run the same functions, so no logic is written twice. The pipeline holds its
collaborators (detectors, policy, appeal signer); time is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.core.appeal import AppealSigner
from shared.core.cached_verdict import CachedVerdict, from_cached, to_cached
from shared.core.detection import DetectionInput, Detector, Findings, combine, run_detectors
from shared.core.fingerprint import cache_key
from shared.core.lexical_detector import LexicalDetector
from shared.core.pii import redact
from shared.core.policy import evaluate
from shared.core.policy_model import Policy
from shared.core.responses import compose_verdict
from shared.schemas import (
    Action,
    Decision,
    DecisionMessage,
    Detection,
    Intent,
    ModerationRequest,
    Verdict,
)

if TYPE_CHECKING:
    from shared.cache import VerdictCache

__all__ = ["Pipeline", "scored_decider"]


@dataclass(frozen=True)
class Pipeline:
    """Detectors, the policy and the appeal signer, composed into the three layers."""

    detectors: tuple[Detector, ...]
    policy: Policy
    sign_appeal: AppealSigner

    @property
    def model_version(self) -> str:
        return "+".join(d.version for d in self.detectors) or "none"

    def detect(self, requests: Sequence[ModerationRequest]) -> list[Detection]:
        """Detection for a batch, in order (the classifier batches internally)."""
        items = [
            DetectionInput(text=r.text, tenant_id=r.tenant_id, locale=r.locale) for r in requests
        ]
        return run_detectors(self.detectors, items)

    def decide(self, request: ModerationRequest, detection: Detection) -> Decision:
        return evaluate(detection, request, self.policy)

    def recheck_for(self, request: ModerationRequest) -> Callable[[str], Action]:
        """Action the same detectors and policy give ``text`` in ``request``'s context."""

        def recheck(text: str) -> Action:
            candidate = request.model_copy(update={"text": text})
            return self.decide(candidate, self.detect([candidate])[0]).action

        return recheck

    def respond(
        self,
        message: DecisionMessage,
        *,
        now: datetime,
        extra_timings: Mapping[str, float] | None = None,
    ) -> Verdict:
        return compose_verdict(
            message,
            now=now,
            sign_appeal=self.sign_appeal,
            recheck=self.recheck_for(message.request),
            redact=redact,
            extra_timings=extra_timings or {},
        )

    def cache_key(
        self, request: ModerationRequest, *, model_version: str | None = None
    ) -> str | None:
        """``request``'s verdict cache key under this policy and ``model_version`` (default:
        these detectors), or None when its tenant opted out of the cache."""
        if not self.policy.cache_allowed(request.tenant_id):
            return None
        return cache_key(
            request,
            policy_fingerprint=self.policy.fingerprint(request.tenant_id),
            model_version=model_version or self.model_version,
        )

    def cache_entry(
        self, verdict: Verdict, message: DecisionMessage
    ) -> tuple[str, CachedVerdict] | None:
        """The cache entry for ``verdict``, just composed from ``message``.

        Keyed by the detectors that served the detection. None when the tenant opted out,
        or when the decision was made under another policy version than this process
        holds (a rollout in progress): the key would claim a policy the verdict never saw.
        """
        request = message.request
        if message.decision.policy_version != self.policy.version_for(request.tenant_id):
            return None
        key = self.cache_key(request, model_version=message.detection.model_version)
        if key is None:
            return None
        category = message.decision.primary_category
        return key, to_cached(verdict, category=category, text=request.text)

    def from_cache(
        self,
        cached: CachedVerdict,
        request: ModerationRequest,
        *,
        now: datetime,
        timings_ms: Mapping[str, float],
    ) -> Verdict:
        """A cached verdict as ``request``'s, with an appeal token signed for it."""
        return from_cached(
            cached, request, now=now, sign_appeal=self.sign_appeal, timings_ms=timings_ms
        )

    def check(
        self,
        request: ModerationRequest,
        *,
        clock: Callable[[], datetime],
        cache: VerdictCache | None = None,
    ) -> Verdict:
        """One request through all three layers in-process (``clearpath check``, the gateway).

        With ``cache``, a stored verdict answers a repeated request, and a fresh verdict
        is stored (a cache that fails only costs the look-up).
        """
        started = time.perf_counter()
        if cache is not None:
            cached = cache.get_many([self.cache_key(request)], texts=[request.text])[0]
            if cached is not None:
                timings = {"cache": _ms(time.perf_counter() - started)}
                return self.from_cache(cached, request, now=clock(), timings_ms=timings)
            started = time.perf_counter()
        detection = self.detect([request])[0]
        detected = time.perf_counter()
        decision = self.decide(request, detection)
        decided = time.perf_counter()
        message = DecisionMessage(
            request=request,
            detection=detection,
            decision=decision,
            timings_ms={
                "detection": _ms(detected - started),
                "policy": _ms(decided - detected),
            },
        )
        verdict = self.respond(message, now=clock())
        verdict = verdict.model_copy(
            update={
                "timings_ms": {**verdict.timings_ms, "response": _ms(time.perf_counter() - decided)}
            }
        )
        entry = self.cache_entry(verdict, message) if cache is not None else None
        if cache is not None and entry is not None:
            cache.put_many([entry])
        return verdict


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def scored_decider(
    policy: Policy,
) -> Callable[[str, dict[str, float], str | None, str | None], str]:
    """``(text, classifier scores, profile, intent purpose) -> action`` through the real policy.

    For batch scoring (``clearpath classify``), where the classifier already ran: the lexical
    and PII detectors and the policy decide the action exactly as the pipeline would.
    """
    lexical = LexicalDetector(lists_for=policy.lists_for)

    def decide(
        text: str, scores: dict[str, float], profile: str | None, purpose: str | None
    ) -> str:
        request = ModerationRequest(
            request_id="classify",
            tenant_id="classify",
            text=text,
            profile=profile or "public_assistant",
            intent=Intent.model_validate({"purpose": purpose}) if purpose else None,
            submitted_at=datetime.fromtimestamp(0, UTC),  # not used by the policy
        )
        found = lexical.detect([DetectionInput(text=text, tenant_id=request.tenant_id)])[0]
        classifier = Findings(scores={k: v for k, v in scores.items() if k != "unsafe"})
        detection = combine([found, classifier], model_version="classify")
        return evaluate(detection, request, policy).action

    return decide

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

from shared.core.appeal import AppealSigner
from shared.core.detection import DetectionInput, Detector, Findings, combine, run_detectors
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

    def check(self, request: ModerationRequest, *, clock: Callable[[], datetime]) -> Verdict:
        """One request through all three layers in-process (``clearpath check``, the gateway)."""
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
        return verdict.model_copy(
            update={
                "timings_ms": {**verdict.timings_ms, "response": _ms(time.perf_counter() - decided)}
            }
        )


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

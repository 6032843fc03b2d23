"""The three layers composed: detection → policy → response, shared by workers and the CLI.

The Kafka workers call one layer each; ``clearpath check`` calls :meth:`Pipeline.check`.
Both run the same functions, so no logic is written twice. The pipeline holds its
collaborators (detectors, policy, appeal signer); time is passed in.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.audit.build import evidence_of
from shared.core.appeal import AppealSigner
from shared.core.cached_verdict import CachedVerdict, from_cached, to_cached
from shared.core.detection import (
    DetectionInput,
    Detector,
    Findings,
    combine,
    run_detectors,
    run_detectors_deriving,
)
from shared.core.fingerprint import cache_key
from shared.core.lexical_detector import LexicalDetector
from shared.core.pii import redact
from shared.core.policy import evaluate
from shared.core.policy_model import Policy
from shared.core.responses import compose_verdict
from shared.core.rewrite import rewrite_candidates
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

__all__ = ["Checked", "Pipeline", "RecheckMemo", "ScoredDecide", "scored_decider"]

#: Rewrite rechecks remembered per process (most candidates are fixed per-category requests).
RECHECK_MEMO_SIZE = 4096


class RecheckMemo:
    """A bounded, thread-safe LRU of rewrite recheck results.

    A recheck is a pure function of (text, tenant, profile, role, intent) under the
    detectors and policy a pipeline holds, and most rewrite candidates are the same fixed
    requests for every refusal of a category: remembering them removes most of the
    response stage's detection passes. Keys are SHA-256 digests; no text is kept.
    """

    def __init__(self, size: int = RECHECK_MEMO_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, Action] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(request: ModerationRequest, text: str) -> bytes:
        context = request.model_dump_json(
            include={"tenant_id", "profile", "role", "intent", "locale"}
        )
        digest = hashlib.sha256(context.encode("utf-8"))
        digest.update(b"\x00")
        digest.update(text.encode("utf-8", "surrogatepass"))
        return digest.digest()

    def get(self, key: bytes) -> Action | None:
        with self._lock:
            action = self._entries.get(key)
            if action is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return action

    def peek(self, key: bytes) -> Action | None:
        """The remembered action, if any (no effect on recency or the hit counters)."""
        with self._lock:
            return self._entries.get(key)

    def __contains__(self, key: bytes) -> bool:
        """Whether ``key`` is remembered (no effect on recency or the hit counters)."""
        with self._lock:
            return key in self._entries

    def put(self, key: bytes, action: Action) -> None:
        with self._lock:
            self._entries[key] = action
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Checked:
    """A verdict from :meth:`Pipeline.check_detailed` and what it came from: the decision
    message it was composed from, or (a cache hit) the cache entry that served it."""

    verdict: Verdict
    message: DecisionMessage | None = None
    cached: CachedVerdict | None = None

    @property
    def category(self) -> str | None:
        """The primary category the verdict was decided for (None for allow)."""
        if self.message is not None:
            return self.message.decision.primary_category
        return self.cached.category if self.cached is not None else None


@dataclass(frozen=True)
class Pipeline:
    """Detectors, the policy and the appeal signer, composed into the three layers."""

    detectors: tuple[Detector, ...]
    policy: Policy
    sign_appeal: AppealSigner
    recheck_memo: RecheckMemo = field(default_factory=RecheckMemo, compare=False, repr=False)

    @property
    def model_version(self) -> str:
        return "+".join(d.version for d in self.detectors) or "none"

    def detect(
        self, requests: Sequence[ModerationRequest], *, prepare_rechecks: bool = False
    ) -> list[Detection]:
        """Detection for a batch, in order (the classifier batches internally).

        ``prepare_rechecks`` (where the same process composes the receipts: the chained
        worker, :meth:`check`): each request in which personal data was found also has its
        redacted text scored, in the same detector passes, and the action that text gets
        remembered (:class:`RecheckMemo`). That text is the first rewrite a redaction's
        receipt offers, so composing the receipt then needs no classifier pass of its own:
        on the benchmark's mix the redacted texts were 95 % of the rechecks, each batch's
        second classifier call. Answers do not change; a request whose receipt never asks
        for that text costs one more row in the batch.
        """
        items = [
            DetectionInput(text=r.text, tenant_id=r.tenant_id, locale=r.locale) for r in requests
        ]
        if not prepare_rechecks:
            return run_detectors(self.detectors, items)
        detections, derived = run_detectors_deriving(self.detectors, items, _redacted)
        for i, (item, detection) in derived.items():
            request = requests[i]
            key = RecheckMemo.key(request, item.text)
            if key not in self.recheck_memo:
                candidate = request.model_copy(update={"text": item.text})
                self.recheck_memo.put(key, self.decide(candidate, detection).action)
        return detections

    def decide(self, request: ModerationRequest, detection: Detection) -> Decision:
        return evaluate(detection, request, self.policy)

    def recheck_for(self, request: ModerationRequest) -> Callable[[str], Action]:
        """Action the same detectors and policy give ``text`` in ``request``'s context."""

        def recheck(text: str) -> Action:
            key = RecheckMemo.key(request, text)
            remembered = self.recheck_memo.get(key)
            if remembered is not None:
                return remembered
            candidate = request.model_copy(update={"text": text})
            action = self.decide(candidate, self.detect([candidate])[0]).action
            self.recheck_memo.put(key, action)
            return action

        return recheck

    def prefetch_rechecks(self, messages: Sequence[DecisionMessage]) -> int:
        """Recheck, in one detection batch, the rewrite candidates of ``messages`` that the
        memo does not hold yet, up to each message's first one it knows is allowed (the
        receipt asks no further); returns how many were checked.

        Composing a receipt rechecks its candidates one by one until one is allowed; each
        unseen candidate (usually the user's own request with the blocked spans cut) would
        otherwise be a detection pass of its own, at batch size one. Answers are unchanged
        in kind: the same detectors and policy decide each candidate in its request's
        context; only the batching differs, and a text's scores do not depend on its batch
        (int8 activation scales are fixed: shared/inference/static_int8.py).
        """
        pending: dict[bytes, ModerationRequest] = {}
        for message in messages:
            if message.decision.action == "allow":
                continue
            request = message.request
            for text in rewrite_candidates(
                request, message.detection, message.decision, redact=redact
            ):
                key = RecheckMemo.key(request, text)
                if self.recheck_memo.peek(key) == "allow":
                    break  # the receipt takes this one: later candidates are never asked
                if key not in pending and key not in self.recheck_memo:
                    pending[key] = request.model_copy(update={"text": text})
        if pending:
            candidates = list(pending.values())
            detections = self.detect(candidates)
            for key, candidate, detection in zip(pending, candidates, detections, strict=True):
                self.recheck_memo.put(key, self.decide(candidate, detection).action)
        return len(pending)

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
        evidence = evidence_of(message.detection, message.decision)
        return key, to_cached(verdict, category=category, text=request.text, evidence=evidence)

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
        return self.check_detailed(request, clock=clock, cache=cache).verdict

    def check_detailed(
        self,
        request: ModerationRequest,
        *,
        clock: Callable[[], datetime],
        cache: VerdictCache | None = None,
    ) -> Checked:
        """:meth:`check`, with what the verdict came from: the decision message, or the
        cache entry that answered (the gateway's audit events and metrics need them)."""
        started = time.perf_counter()
        if cache is not None:
            cached = cache.get_many([self.cache_key(request)], texts=[request.text])[0]
            if cached is not None:
                timings = {"cache": _ms(time.perf_counter() - started)}
                served = self.from_cache(cached, request, now=clock(), timings_ms=timings)
                return Checked(served, cached=cached)
            started = time.perf_counter()
        detection = self.detect([request], prepare_rechecks=True)[0]
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
        return Checked(verdict, message=message)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


#: ``(text, classifier scores, profile, intent purpose) -> action``: see :func:`scored_decider`.
ScoredDecide = Callable[[str, dict[str, float], str | None, str | None], str]


def scored_decider(policy: Policy) -> ScoredDecide:
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
        classifier = Findings(scores=dict(scores))
        detection = combine([found, classifier], model_version="classify")
        return evaluate(detection, request, policy).action

    return decide


def _redacted(item: DetectionInput, findings: Sequence[Findings]) -> DetectionInput | None:
    """``item`` with the personal data found so far masked, as a redaction's rewrite is."""
    spans = sorted((s for f in findings for s in f.pii), key=lambda s: (s.start, s.end))
    if not spans:
        return None
    text = redact(item.text, spans)
    return None if text == item.text else DetectionInput(text, item.tenant_id, item.locale)

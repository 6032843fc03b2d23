"""What a producer of audit events holds: its name, the tenants' text modes, the hash key.

The detection worker (cache hits), the response worker (pipeline verdicts) and, later, the
gateway each build one at start and call it once per verdict; the handler publishes the
event to the audit topic in the verdict's own Kafka transaction, so a verdict and its audit
event are committed together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shared.audit.build import cache_hit_event_json, evidence_of, verdict_event
from shared.audit.events import AuditEvidence, TextMode, VerdictAuditEvent
from shared.core.appeal import MIN_KEY_BYTES
from shared.core.cached_verdict import CachedEntry, RenderedVerdict
from shared.errors import ConfigurationError
from shared.schemas import DecisionMessage, ModerationRequest, PiiSpan, Verdict
from shared.secrets import audit_hash_key
from shared.settings import Settings

__all__ = ["AuditRecorder", "build_recorder"]


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class AuditRecorder:
    """Builds one producer's verdict audit events (ids drawn here, the rest pure)."""

    source: str
    text_mode: Callable[[str], TextMode]
    hash_key: bytes = field(repr=False)
    hash_key_id: str
    new_id: Callable[[], str] = _new_id

    def for_decision(self, message: DecisionMessage, verdict: Verdict) -> VerdictAuditEvent:
        """The event for ``verdict``, composed by the pipeline from ``message``."""
        return self._event(
            message.request,
            verdict,
            evidence_of(message.detection, message.decision),
            pii=message.detection.pii,
        )

    def for_cache_hit(
        self, request: ModerationRequest, verdict: Verdict, evidence: AuditEvidence | None
    ) -> VerdictAuditEvent:
        """The event for a verdict served from the cache (``evidence``: the cached decision's)."""
        return self._event(request, verdict, evidence, pii=None)

    def cache_hit_json(
        self, request: ModerationRequest, entry: CachedEntry, rendered: RenderedVerdict
    ) -> bytes:
        """:meth:`for_cache_hit` for a verdict rendered from ``entry``, as wire JSON."""
        return cache_hit_event_json(
            event_id=self.new_id(),
            source=self.source,
            request=request,
            entry=entry,
            rendered=rendered,
            mode=self.text_mode(request.tenant_id),
            hash_key=self.hash_key,
            hash_key_id=self.hash_key_id,
        )

    def _event(
        self,
        request: ModerationRequest,
        verdict: Verdict,
        evidence: AuditEvidence | None,
        *,
        pii: Sequence[PiiSpan] | None,
    ) -> VerdictAuditEvent:
        return verdict_event(
            event_id=self.new_id(),
            source=self.source,
            request=request,
            verdict=verdict,
            evidence=evidence,
            mode=self.text_mode(request.tenant_id),
            hash_key=self.hash_key,
            hash_key_id=self.hash_key_id,
            pii=pii,
        )


def build_recorder(
    settings: Settings, *, source: str, text_mode: Callable[[str], TextMode]
) -> AuditRecorder:
    """A recorder with the deployment's audit hash key (ConfigurationError if it is short)."""
    kid, key = audit_hash_key(settings)
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"audit hash key must be at least {MIN_KEY_BYTES} bytes")
    return AuditRecorder(source=source, text_mode=text_mode, hash_key=key, hash_key_id=kid)

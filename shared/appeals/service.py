"""The appeal service: verify, re-evaluate, judge, store, publish — one path for HTTP and Kafka.

Filing an appeal (:meth:`AppealService.file`):

1. the token is verified against the appeal keys: signature, expiry, the caller's tenant,
   the request id and the text (``shared.core.appeal``);
2. the text is detected once and decided twice under the profile the receipt cited: as it
   stands and with the added context as unverified intent; ``shared.core.appeals`` turns
   the two decisions into overturned, upheld or queued;
3. the appeal is stored (its id is deterministic, so a retried appeal is the same appeal and
   is answered from the store), then its outcome event and audit event are delivered to
   Kafka and the row is marked published. An outcome whose delivery failed stays in the
   outbox and :meth:`AppealService.relay` sends it later; consumers deduplicate by
   ``(appeal_id, decided_by)``.

A reviewer's decision on a queued appeal (:meth:`AppealService.review`) is stored once and
published the same way, with ``decided_by='reviewer'``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from shared.appeals.events import (
    AppealMessage,
    AppealOutcomeAuditEvent,
    AppealOutcomeEvent,
    DecidedBy,
)
from shared.appeals.store import AppealRecord, AppealStore
from shared.audit.build import storable
from shared.core.appeal import verify
from shared.core.appeals import (
    AppealContext,
    ReviewDecision,
    action_after,
    appeal_id_for,
    judge_appeal,
    profile_of,
    review_outcome,
    token_id,
)
from shared.errors import AppealConflict, AppealError, AppealNotFound, InfrastructureError
from shared.pipeline import Pipeline
from shared.publisher import EventSink, OutgoingEvent
from shared.schemas import ModerationRequest, encode
from shared.topics import TopicSet

__all__ = ["AppealObserver", "AppealService", "FiledAppeal"]

log = logging.getLogger("clearpath.appeals")
_EVENT_NAMESPACE: Final = uuid.UUID("5b0e7a52-6c1d-4d8e-9f1a-a99ea1500c0e")


class AppealObserver(Protocol):
    """Metrics hooks: an appeal filed (its automatic outcome), a review decided."""

    def filed(self, record: AppealRecord) -> None: ...
    def reviewed(self, record: AppealRecord) -> None: ...


@dataclass(frozen=True, slots=True)
class FiledAppeal:
    record: AppealRecord
    created: bool


@dataclass
class AppealService:
    """Appeals over one pipeline, one store and one event sink (see the module docstring)."""

    pipeline: Pipeline
    keys: Mapping[str, bytes]
    store: AppealStore
    events: EventSink
    topics: TopicSet
    clock: Callable[[], datetime]
    observer: AppealObserver | None = None
    source: str = "gateway"

    def file(self, appeal: AppealMessage, *, republish: bool = False) -> FiledAppeal:
        """File ``appeal``; raises :class:`~shared.core.appeal.InvalidAppealToken` or
        :class:`~shared.errors.AppealError` when it cannot be filed.

        ``republish``: an appeal filed before has its outcomes sent again even if they were
        sent already (a Kafka redelivery whose transaction, and so those events, aborted).
        """
        now = self.clock()
        claims = verify(
            appeal.token,
            keys=self.keys,
            now=now,
            tenant_id=appeal.tenant_id,
            request_id=appeal.request_id,
            text=appeal.text,
        )
        profile = profile_of(claims.policy_ref)
        if profile is None:
            raise AppealError("the token does not name the policy clause", reason="no_policy")
        if profile not in self.pipeline.policy.profiles:
            raise AppealError(
                f"the profile {profile!r} the verdict was given under no longer exists",
                reason="unknown_profile",
            )
        context = AppealContext(purpose=appeal.purpose, statement=appeal.statement)
        appeal_id = appeal_id_for(
            tenant_id=appeal.tenant_id,
            request_id=appeal.request_id,
            token=appeal.token,
            context=context,
        )
        existing = self.store.get(tenant_id=appeal.tenant_id, appeal_id=appeal_id)
        if existing is not None:
            self._publish_pending(existing, force=republish)
            return FiledAppeal(existing, created=False)

        request = ModerationRequest(
            request_id=appeal.request_id,
            tenant_id=appeal.tenant_id,
            text=appeal.text,
            profile=profile,
            submitted_at=now,
        )
        detection = self.pipeline.detect([request])[0]
        baseline = self.pipeline.decide(request, detection)
        intent = context.intent()
        reconsidered = (
            None
            if intent is None
            else self.pipeline.decide(request.model_copy(update={"intent": intent}), detection)
        )
        judgement = judge_appeal(baseline, reconsidered)
        record, created = self.store.insert(
            AppealRecord(
                appeal_id=appeal_id,
                tenant_id=appeal.tenant_id,
                request_id=appeal.request_id,
                token_id=token_id(appeal.token),
                profile=profile,
                category=claims.category or judgement.category,
                policy_ref=claims.policy_ref,
                purpose=appeal.purpose,
                statement=storable(intent.statement) if intent and intent.statement else None,
                original_action=judgement.original_action,
                reconsidered_action=judgement.reconsidered_action,
                outcome=judgement.outcome,
                reason=judgement.reason,
                # PostgreSQL cannot hold NUL or lone surrogates: replaced, for the reviewer.
                request_text=storable(appeal.text) if judgement.outcome == "queued" else None,
                created_at=now,
            )
        )
        if created and self.observer is not None:
            self.observer.filed(record)
        self._publish_pending(record, force=republish)
        return FiledAppeal(record, created=created)

    def get(self, *, tenant_id: str, appeal_id: str) -> AppealRecord:
        record = self.store.get(tenant_id=tenant_id, appeal_id=appeal_id)
        if record is None:
            raise AppealNotFound(f"no appeal {appeal_id!r} for this tenant")
        return record

    def queue(self, *, tenant_id: str, limit: int, after: str | None = None) -> list[AppealRecord]:
        return self.store.queue(tenant_id=tenant_id, limit=limit, after=after)

    def review(
        self,
        *,
        tenant_id: str,
        appeal_id: str,
        decision: ReviewDecision,
        note: str | None,
        reviewer: str,
    ) -> AppealRecord:
        """Decide a queued appeal; AppealNotFound or AppealConflict when it is not waiting."""
        record = self.store.review(
            tenant_id=tenant_id,
            appeal_id=appeal_id,
            outcome=review_outcome(decision),
            # PostgreSQL cannot hold NUL or lone surrogates: replaced, as for the statement.
            note=None if note is None else storable(note),
            reviewer=reviewer,
            now=self.clock(),
        )
        if record is None:
            current = self.get(tenant_id=tenant_id, appeal_id=appeal_id)
            raise AppealConflict(
                f"appeal {appeal_id} is not waiting for review (it was {current.final_outcome})"
            )
        if self.observer is not None:
            self.observer.reviewed(record)
        self._publish_pending(record)
        return record

    def relay(self, *, limit: int = 100) -> int:
        """Publish outcomes still in the outbox (a delivery failed earlier); how many."""
        sent = 0
        for record in self.store.unpublished(limit=limit):
            sent += self._publish_pending(record)
        return sent

    # -- events -------------------------------------------------------------------------

    def _publish_pending(self, record: AppealRecord, *, force: bool = False) -> int:
        """Deliver what of ``record`` is not yet on Kafka (everything, with ``force``); how
        many outcomes were sent.

        A failure is logged and left in the outbox: the appeal itself is decided and stored.
        """
        sent = 0
        reviewed = record.review_outcome is not None
        pending: list[tuple[DecidedBy, bool]] = [
            ("policy", force or record.outcome_published_at is None),
            ("reviewer", reviewed and (force or record.review_published_at is None)),
        ]
        for decided_by, due in pending:
            if not due:
                continue
            outcome = self.outcome_event(record, decided_by=decided_by)
            try:
                self.events.deliver(
                    [
                        OutgoingEvent(
                            self.topics.appeal_outcomes, record.request_id.encode(), encode(outcome)
                        ),
                        OutgoingEvent(
                            self.topics.audit,
                            record.request_id.encode(),
                            encode(self.audit_event(outcome)),
                        ),
                    ]
                )
            except InfrastructureError as exc:
                log.error("appeal %s: outcome not published yet: %s", record.appeal_id, exc)
                return sent
            self.store.mark_published(
                record.appeal_id,
                which="outcome" if decided_by == "policy" else "review",
                now=self.clock(),
            )
            sent += 1
        return sent

    @staticmethod
    def outcome_event(record: AppealRecord, *, decided_by: DecidedBy) -> AppealOutcomeEvent:
        """The outcome ``decided_by`` gave ``record`` (a reviewer's only once decided)."""
        by_reviewer = decided_by == "reviewer"
        if by_reviewer and record.review_outcome is None:
            raise ValueError(f"appeal {record.appeal_id} has no review to publish")
        outcome = record.review_outcome if by_reviewer and record.review_outcome else record.outcome
        return AppealOutcomeEvent(
            appeal_id=record.appeal_id,
            tenant_id=record.tenant_id,
            request_id=record.request_id,
            token_id=record.token_id,
            outcome=outcome,
            decided_by=decided_by,
            reason="reviewer" if by_reviewer else record.reason,
            profile=record.profile,
            category=record.category,
            policy_ref=record.policy_ref,
            action=action_after(
                outcome, original=record.original_action, reconsidered=record.reconsidered_action
            ),
            original_action=record.original_action,
            reconsidered_action=record.reconsidered_action,
            purpose=record.purpose,
            note=record.review_note if by_reviewer else None,
            decided_at=record.reviewed_at
            if by_reviewer and record.reviewed_at
            else record.created_at,
        )

    def audit_event(self, outcome: AppealOutcomeEvent) -> AppealOutcomeAuditEvent:
        """The outcome as an audit event; its id is derived, so a re-sent outcome is the same
        event."""
        event_id = uuid.uuid5(_EVENT_NAMESPACE, f"{outcome.appeal_id}/{outcome.decided_by}")
        return AppealOutcomeAuditEvent(
            event_id=str(event_id),
            source=self.source,
            tenant_id=outcome.tenant_id,
            request_id=outcome.request_id,
            action=outcome.action,
            profile=outcome.profile,
            decided_at=outcome.decided_at,
            appeal_id=outcome.appeal_id,
            token_id=outcome.token_id,
            outcome=outcome.outcome,
            decided_by=outcome.decided_by,
            reason=outcome.reason,
            category=outcome.category,
            policy_ref=outcome.policy_ref,
            original_action=outcome.original_action,
            reconsidered_action=outcome.reconsidered_action,
            purpose=outcome.purpose,
            note=outcome.note,
        )

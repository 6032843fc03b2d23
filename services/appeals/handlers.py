"""Appeals handler: decode appeals, file each through the appeal service, publish its outcome.

The outcome event and its audit event are produced in the batch's Kafka transaction, with
the input offsets: committed together or not at all. The appeal row is written to
PostgreSQL first; a redelivered appeal (its transaction aborted) is found there by its
deterministic id and its outcome produced again (``republish``), so nothing is lost and a
consumer that deduplicates by ``(appeal_id, decided_by)`` sees it once.

An appeal that can never be filed (a bad token, a profile the policy no longer has) is
dead-lettered with its reason. A database failure is not the appeal's fault: it propagates,
the transaction aborts and the worker exits to be restarted (``docs/DEPLOY.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from shared.appeals.events import AppealMessage
from shared.appeals.service import AppealService
from shared.broker import BatchHandler, Incoming, Outgoing
from shared.core.appeal import InvalidAppealToken
from shared.errors import AppealError, PoisonMessage
from shared.publisher import OutgoingEvent
from shared.schemas import decode
from shared.stage import StageContext

__all__ = ["RejectedAppeal", "build_handler"]


class RejectedAppeal(PoisonMessage):
    """An appeal the service refused: forged, expired or mismatched token, unknown profile."""

    error_type = "rejected_appeal"


@dataclass
class _Collected:
    """An event sink that hands its events to the batch's transaction instead of sending."""

    events: list[OutgoingEvent] = field(default_factory=list)

    def deliver(self, events: Sequence[OutgoingEvent], *, timeout_s: float = 0.0) -> None:
        self.events.extend(events)

    def send(self, events: Sequence[OutgoingEvent]) -> None:
        self.events.extend(events)

    def close(self) -> None:
        return None


def build_handler(
    service: AppealService, *, ctx: StageContext, max_text_bytes: int
) -> BatchHandler:
    def handle(batch: Sequence[Incoming]) -> list[Outgoing]:
        ctx.dead_lettered = []
        outputs: list[Outgoing] = []
        for record in batch:
            try:
                appeal = decode(record.value, AppealMessage, max_text_bytes=max_text_bytes)
            except PoisonMessage as exc:
                outputs.append(ctx.dead(record, exc))
                continue
            collected = _Collected()
            try:
                replace(service, events=collected).file(appeal, republish=True)
            except InvalidAppealToken as exc:
                outputs.append(ctx.dead(record, RejectedAppeal(f"appeal token rejected: {exc}")))
                continue
            except AppealError as exc:
                outputs.append(ctx.dead(record, RejectedAppeal(f"{exc.reason}: {exc}")))
                continue
            outputs.extend(Outgoing(e.topic, e.value, key=e.key) for e in collected.events)
        return outputs

    return handle

"""What the three stage handlers share: decode each record, isolate failures, dead-letter poison.

A stage handler turns a batch of records into outputs. Records that cannot be
decoded become dead letters; a batch-level failure is retried one record at a
time so a single bad record cannot hold back (or take down) its neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from shared.broker import Incoming, Outgoing
from shared.deadletter import dead_letter
from shared.schemas import WireModel, decode

__all__ = ["StageContext", "run_stage"]

M = TypeVar("M", bound=WireModel)


class StageContext:
    """Where a stage's dead letters go and how it reads the clock (passed in, for tests)."""

    def __init__(self, *, stage: str, deadletter_topic: str, clock: Callable[[], datetime]) -> None:
        self.stage = stage
        self.deadletter_topic = deadletter_topic
        self.clock = clock
        self.dead_lettered: list[str] = []  # error types of the last batch (for metrics)

    def dead(self, record: Incoming, error: BaseException) -> Outgoing:
        out = dead_letter(
            record, stage=self.stage, error=error, topic=self.deadletter_topic, now=self.clock()
        )
        self.dead_lettered.append(getattr(error, "error_type", "processing_error"))
        return out


def run_stage(
    batch: Sequence[Incoming],
    *,
    model: type[M],
    process: Callable[[Sequence[M]], list[Outgoing]],
    ctx: StageContext,
    max_text_bytes: int,
) -> list[Outgoing]:
    """Decode ``batch`` as ``model``, process the valid messages together, dead-letter the rest.

    ``process`` receives the decoded messages in order and returns one output per message
    (a message may map to several outputs as long as the order of messages is kept).
    """
    ctx.dead_lettered = []
    outputs: list[Outgoing] = []
    valid: list[tuple[Incoming, M]] = []
    for record in batch:
        if isinstance(record.message, model):  # handed over in process: already decoded
            valid.append((record, record.message))
            continue
        try:
            valid.append((record, decode(record.value, model, max_text_bytes=max_text_bytes)))
        except Exception as exc:
            outputs.append(ctx.dead(record, exc))
    if not valid:
        return outputs
    try:
        outputs.extend(process([message for _, message in valid]))
    except Exception:
        for record, message in valid:
            try:
                outputs.extend(process([message]))
            except Exception as exc:
                outputs.append(ctx.dead(record, exc))
    return outputs

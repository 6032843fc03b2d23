"""Dead letters: poison input, with the reason and the original bytes, never dropped."""

from __future__ import annotations

import base64
from datetime import datetime

from shared.broker import Incoming, Outgoing
from shared.errors import PoisonMessage
from shared.schemas import DeadLetter, encode

__all__ = ["PROCESSING_ERROR", "dead_letter"]

#: error_type for an unexpected failure on one message (a bug): kept, not retried forever.
PROCESSING_ERROR = "processing_error"


def dead_letter(
    record: Incoming, *, stage: str, error: BaseException, topic: str, now: datetime
) -> Outgoing:
    """The dead letter for ``record``, keyed like the original so it lands beside its peers."""
    if isinstance(error, PoisonMessage):
        error_type, message = error.error_type, str(error) or error.error_type
    else:
        error_type, message = PROCESSING_ERROR, f"{type(error).__name__} while processing"
    letter = DeadLetter(
        original_b64=base64.b64encode(record.value or b"").decode(),
        key_b64=base64.b64encode(record.key).decode() if record.key is not None else None,
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        stage=stage,
        error_type=error_type,
        message=message,
        failed_at=now,
    )
    return Outgoing(topic=topic, value=encode(letter), key=record.key)

"""Response handler: decode decisions, compose verdicts with receipts, publish verdicts."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from shared.broker import BatchHandler, Incoming, Outgoing
from shared.pipeline import Pipeline
from shared.schemas import DecisionMessage, Verdict, encode, message_key
from shared.stage import StageContext, run_stage
from shared.topics import TopicSet

__all__ = ["build_handler"]


def build_handler(
    *,
    pipeline: Pipeline,
    topics: TopicSet,
    ctx: StageContext,
    max_text_bytes: int,
    on_verdict: Callable[[Verdict, DecisionMessage], None] = lambda _v, _m: None,
) -> BatchHandler:
    def process(messages: Sequence[DecisionMessage]) -> list[Outgoing]:
        outputs = []
        for message in messages:
            started = time.perf_counter()
            verdict = pipeline.respond(message, now=ctx.clock())
            response_ms = round((time.perf_counter() - started) * 1000, 3)
            verdict = verdict.model_copy(
                update={"timings_ms": {**verdict.timings_ms, "response": response_ms}}
            )
            on_verdict(verdict, message)
            outputs.append(
                Outgoing(
                    topic=topics.verdicts, key=message_key(message.request), value=encode(verdict)
                )
            )
        return outputs

    def handle(batch: Sequence[Incoming]) -> list[Outgoing]:
        return run_stage(
            batch, model=DecisionMessage, process=process, ctx=ctx, max_text_bytes=max_text_bytes
        )

    return handle

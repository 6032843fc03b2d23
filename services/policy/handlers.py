"""Policy handler: decode detections, evaluate the policy, publish decisions."""

from __future__ import annotations

import time
from collections.abc import Sequence

from shared.broker import BatchHandler, Incoming, Outgoing
from shared.schemas import DecisionMessage, DetectionMessage, encode, message_key
from shared.stage import run_stage
from shared.worker import StageDeps

__all__ = ["build_handler"]


def build_handler(deps: StageDeps) -> BatchHandler:
    pipeline, topics, ctx = deps.pipeline, deps.topics, deps.ctx

    def process(messages: Sequence[DetectionMessage]) -> list[Outgoing]:
        outputs = []
        for message in messages:
            started = time.perf_counter()
            decision = pipeline.decide(message.request, message.detection)
            timings = {
                **message.timings_ms,
                "policy": round((time.perf_counter() - started) * 1000, 3),
            }
            out = DecisionMessage(
                request=message.request,
                detection=message.detection,
                decision=decision,
                timings_ms=timings,
            )
            outputs.append(
                Outgoing(
                    topic=topics.decisions,
                    key=message_key(message.request),
                    value=encode(out),
                    message=out,
                )
            )
        return outputs

    def handle(batch: Sequence[Incoming]) -> list[Outgoing]:
        return run_stage(
            batch,
            model=DetectionMessage,
            process=process,
            ctx=ctx,
            max_text_bytes=deps.max_text_bytes,
        )

    return handle

"""Detection handler: decode requests, detect the whole batch at once, publish detections."""

from __future__ import annotations

import time
from collections.abc import Sequence

from shared.broker import BatchHandler, Incoming, Outgoing
from shared.schemas import DetectionMessage, ModerationRequest, encode, message_key
from shared.stage import run_stage
from shared.worker import StageDeps

__all__ = ["build_handler"]


def build_handler(deps: StageDeps) -> BatchHandler:
    pipeline, topics, ctx = deps.pipeline, deps.topics, deps.ctx

    def process(requests: Sequence[ModerationRequest]) -> list[Outgoing]:
        started = time.perf_counter()
        detections = pipeline.detect(requests)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        return [
            Outgoing(
                topic=topics.detections,
                key=message_key(request),
                value=encode(
                    DetectionMessage(
                        request=request, detection=detection, timings_ms={"detection": elapsed_ms}
                    )
                ),
            )
            for request, detection in zip(requests, detections, strict=True)
        ]

    def handle(batch: Sequence[Incoming]) -> list[Outgoing]:
        return run_stage(
            batch,
            model=ModerationRequest,
            process=process,
            ctx=ctx,
            max_text_bytes=deps.max_text_bytes,
        )

    return handle

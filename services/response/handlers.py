"""Response handler: decode decisions, compose verdicts with receipts, publish verdicts.

The rewrite candidates of a batch's receipts are rechecked together first
(:meth:`Pipeline.prefetch_rechecks`: one detection pass instead of one per refusal).

Each verdict goes out with its audit event (same transaction, so exactly one event per
verdict even when a batch is redelivered). Each composed verdict is also stored in the
verdict cache (unless its tenant opted out), in one pipelined write at the end of the batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from shared.broker import BatchHandler, Incoming, Outgoing
from shared.core.cached_verdict import CachedVerdict
from shared.schemas import DecisionMessage, encode, message_key
from shared.stage import run_stage
from shared.worker import StageDeps

__all__ = ["build_handler"]


def build_handler(deps: StageDeps) -> BatchHandler:
    pipeline, topics, ctx, audit = deps.pipeline, deps.topics, deps.ctx, deps.audit

    def process(messages: Sequence[DecisionMessage]) -> list[Outgoing]:
        outputs = []
        entries: list[tuple[str, CachedVerdict]] = []
        # The batch's unseen rewrite candidates in one detection pass (each message waited
        # for it, so its time counts towards every message's response time).
        started = time.perf_counter()
        pipeline.prefetch_rechecks(messages)
        prefetch_s = time.perf_counter() - started
        for message in messages:
            started = time.perf_counter()
            verdict = pipeline.respond(message, now=ctx.clock())
            response_ms = round((time.perf_counter() - started + prefetch_s) * 1000, 3)
            verdict = verdict.model_copy(
                update={"timings_ms": {**verdict.timings_ms, "response": response_ms}}
            )
            deps.metrics.observe_verdict(verdict, message)
            entry = pipeline.cache_entry(verdict, message)
            if entry is not None:
                entries.append(entry)
            key = message_key(message.request)
            outputs.append(Outgoing(topic=topics.verdicts, key=key, value=encode(verdict)))
            if audit is not None:
                event = audit.for_decision(message, verdict)
                outputs.append(Outgoing(topic=topics.audit, key=key, value=encode(event)))
        deps.cache.put_many(entries)
        return outputs

    def handle(batch: Sequence[Incoming]) -> list[Outgoing]:
        return run_stage(
            batch,
            model=DecisionMessage,
            process=process,
            ctx=ctx,
            max_text_bytes=deps.max_text_bytes,
        )

    return handle

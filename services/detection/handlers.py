"""Detection handler: decode requests, answer repeats from the verdict cache, detect the rest.

One ``MGET`` looks the whole batch up. A hit is published straight to the verdicts topic
(``cache_hit=True``, this request's ids, a freshly signed appeal token), with its audit
event in the same transaction; the misses are detected together and go on to the policy
stage as before.

Order within a conversation: once a conversation has a miss in the batch, its later
messages are treated as misses too, so a hit never overtakes an earlier message of its
conversation in the same batch. (A hit can still overtake a miss from an earlier batch
that is still in the policy or response stage: the short-circuit trades that for skipping
two hops.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from shared.broker import BatchHandler, Incoming, Outgoing
from shared.core.cached_verdict import CachedEntry, render_cached
from shared.schemas import DetectionMessage, ModerationRequest, encode, message_key
from shared.stage import run_stage
from shared.worker import StageDeps

__all__ = ["build_handler"]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _in_order(
    requests: Sequence[ModerationRequest], cached: Sequence[CachedEntry | None]
) -> list[CachedEntry | None]:
    """``cached`` with hits dropped after a miss in the same conversation (see the module)."""
    missed: set[str] = set()
    kept: list[CachedEntry | None] = []
    for request, hit in zip(requests, cached, strict=True):
        conversation = request.conversation_id
        if hit is not None and conversation is not None and conversation in missed:
            hit = None
        if hit is None and conversation is not None:
            missed.add(conversation)
        kept.append(hit)
    return kept


def build_handler(deps: StageDeps, *, prepare_rechecks: bool = False) -> BatchHandler:
    """``prepare_rechecks``: the response step runs in this process too (the chained worker),
    so redaction rewrites are scored with the batch (:meth:`Pipeline.detect`)."""
    pipeline, topics, ctx, cache = deps.pipeline, deps.topics, deps.ctx, deps.cache
    audit = deps.audit

    def process(requests: Sequence[ModerationRequest]) -> list[Outgoing]:
        started = time.perf_counter()
        keys = [pipeline.cache_key(r) for r in requests]
        cached = _in_order(requests, cache.get_entries(keys, texts=[r.text for r in requests]))
        lookup_ms = _ms(time.perf_counter() - started)
        outputs: list[list[Outgoing]] = [[] for _ in requests]
        now = ctx.clock()
        for i, (request, hit) in enumerate(zip(requests, cached, strict=True)):
            if hit is None:
                continue
            # Straight to JSON (render_cached): the same verdict as pipeline.from_cache.
            rendered = render_cached(
                hit,
                request,
                now=now,
                sign_appeal=pipeline.sign_appeal,
                timings_ms={"cache": lookup_ms},
            )
            deps.metrics.observe_cache_hit(
                action=hit.action,
                profile=hit.profile,
                category=hit.category,
                intent_applied=rendered.doc["intent_applied"],
                total_ms=rendered.doc["timings_ms"]["total"],
            )
            key = message_key(request)
            outputs[i].append(Outgoing(topic=topics.verdicts, key=key, value=rendered.json))
            if audit is not None:
                event = audit.cache_hit_json(request, hit, rendered)
                outputs[i].append(Outgoing(topic=topics.audit, key=key, value=event))
        misses = [i for i, hit in enumerate(cached) if hit is None]
        if misses:
            started = time.perf_counter()
            detections = pipeline.detect(
                [requests[i] for i in misses], prepare_rechecks=prepare_rechecks
            )
            elapsed_ms = _ms(time.perf_counter() - started)
            for i, detection in zip(misses, detections, strict=True):
                message = DetectionMessage(
                    request=requests[i],
                    detection=detection,
                    timings_ms={"cache": lookup_ms, "detection": elapsed_ms},
                )
                outputs[i].append(
                    Outgoing(
                        topic=topics.detections,
                        key=message_key(requests[i]),
                        value=encode(message),
                        message=message,
                    )
                )
        return [out for outs in outputs for out in outs]

    def handle(batch: Sequence[Incoming]) -> list[Outgoing]:
        return run_stage(
            batch,
            model=ModerationRequest,
            process=process,
            ctx=ctx,
            max_text_bytes=deps.max_text_bytes,
        )

    return handle

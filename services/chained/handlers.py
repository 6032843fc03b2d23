"""Chained handler: the three stage handlers run back to back on one batch, in memory.

The split topology pays one Kafka transaction per stage and batch (three commits, two extra
fetches and three processes per message). Chaining the stages in one process — as stream
processors chain operators of equal parallelism — keeps the same handlers and semantics and
publishes only what leaves the pipeline: verdicts (cache hits and composed), audit events and
dead letters, with the input offsets, in **one** transaction per batch. Exactly-once holds
as before: a batch killed mid-way is aborted and redelivered whole.

What differs from the split topology:

* ``clearpath.detections.v1`` and ``clearpath.decisions.v1`` are not written (nothing outside
  the pipeline reads them; the verdict carries the detection and decision).
* The worker consumes requests in the detection worker's consumer group, so an operator can
  switch topologies without skipping or replaying input; a split policy/response pair left
  running drains what is in flight.
* A message that fails in the policy or response step is dead-lettered with the stage that
  failed, the intermediate message it would have travelled as (it contains the request) and
  ``source_topic`` naming the intermediate topic; ``partition`` is -1 and ``offset`` its
  position in the batch, since the record was never published.
* One classifier session serves detection and the response step's rewrite rechecks; the
  redacted texts that redactions' receipts offer are scored with the batch's detection.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace

from services.detection.handlers import build_handler as detection_handler
from services.policy.handlers import build_handler as policy_handler
from services.response.handlers import build_handler as response_handler
from shared.broker import BatchHandler, Incoming, Outgoing
from shared.stage import StageContext
from shared.worker import StageDeps

__all__ = ["HANDOFF_PARTITION", "build_handler"]

#: ``partition`` of an in-memory hand-off record (it was never published).
HANDOFF_PARTITION = -1


def _split(outputs: Sequence[Outgoing], topic: str) -> tuple[list[Incoming], list[Outgoing]]:
    """Outputs for ``topic`` as the next step's input records, and everything else."""
    handoff: list[Incoming] = []
    rest: list[Outgoing] = []
    for out in outputs:
        if out.topic == topic:
            handoff.append(
                Incoming(
                    topic=topic,
                    partition=HANDOFF_PARTITION,
                    offset=len(handoff),
                    key=out.key,
                    value=out.value,
                    timestamp_ms=0,
                    message=out.message,  # the next step skips decoding it
                )
            )
        else:
            rest.append(out)
    return handoff, rest


def build_handler(deps: StageDeps) -> BatchHandler:
    outer = deps.ctx

    # Each step dead-letters under its own stage name; the worker's metrics read ``outer``.
    contexts = [
        StageContext(stage=stage, deadletter_topic=outer.deadletter_topic, clock=outer.clock)
        for stage in ("detection", "policy", "response")
    ]
    factories: tuple[Callable[[StageDeps], BatchHandler], ...] = (
        functools.partial(detection_handler, prepare_rechecks=True),
        policy_handler,
        response_handler,
    )
    detect, decide, respond = (
        factory(replace(deps, ctx=ctx)) for factory, ctx in zip(factories, contexts, strict=True)
    )
    topics = deps.topics

    def handle(batch: Sequence[Incoming]) -> list[Outgoing]:
        detections, out = _split(detect(batch), topics.detections)
        decisions, decided = _split(decide(detections) if detections else [], topics.decisions)
        out.extend(decided)
        if decisions:
            out.extend(respond(decisions))
        outer.dead_lettered = [e for ctx in contexts for e in ctx.dead_lettered]
        for ctx in contexts:
            ctx.dead_lettered = []
        return out

    return handle

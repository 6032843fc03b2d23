"""run_stage: poison is dead-lettered, a batch failure is narrowed to the failing record."""

from __future__ import annotations

from collections.abc import Sequence

from shared.broker import Incoming, Outgoing, TransactionalLoop
from shared.schemas import DeadLetter, ModerationRequest, decode, encode
from shared.stage import StageContext, run_stage
from tests.support.factories import NOW, make_request


def _records(values: Sequence[bytes]) -> list[Incoming]:
    return [Incoming("in", i % 2, i, None, v, 0) for i, v in enumerate(values)]


def test_one_failing_message_does_not_take_its_batch_down() -> None:
    calls: list[int] = []

    def process(messages: Sequence[ModerationRequest]) -> list[Outgoing]:
        calls.append(len(messages))
        if any(m.text == "boom" for m in messages):
            raise RuntimeError("model exploded")
        return [Outgoing("out", m.request_id.encode()) for m in messages]

    values = [
        encode(make_request(request_id=f"r{i}", text="boom" if i == 2 else "ok")) for i in range(4)
    ]
    ctx = StageContext(stage="detection", deadletter_topic="dlq", clock=lambda: NOW)
    out = run_stage(
        _records([*values, b"nope"]),
        model=ModerationRequest,
        process=process,
        ctx=ctx,
        max_text_bytes=100,
    )
    assert calls == [4, 1, 1, 1, 1]
    assert [o.value for o in out if o.topic == "out"] == [b"r0", b"r1", b"r3"]
    letters = [decode(o.value, DeadLetter) for o in out if o.topic == "dlq"]
    assert sorted(letter.error_type for letter in letters) == ["invalid_json", "processing_error"]
    failed = next(letter for letter in letters if letter.error_type == "processing_error")
    assert failed.offset == 2 and "RuntimeError" in failed.message and "boom" not in failed.message
    assert sorted(ctx.dead_lettered) == ["invalid_json", "processing_error"]


def test_offsets_committed_are_one_past_the_last_record_of_each_partition() -> None:
    batch = _records([b"a", b"b", b"c", b"d", b"e"])
    offsets = {(tp.topic, tp.partition): tp.offset for tp in TransactionalLoop._next_offsets(batch)}
    assert offsets == {("in", 0): 5, ("in", 1): 4}


def test_a_record_handed_over_in_process_is_not_decoded_again() -> None:
    seen: list[ModerationRequest] = []

    def process(messages: Sequence[ModerationRequest]) -> list[Outgoing]:
        seen.extend(messages)
        return []

    handed = make_request(request_id="in-process", text="ok")
    # Bytes that would not even decode: the message object is what the step reads.
    kept = Incoming("in", -1, 0, None, b"not read", 0, message=handed)
    # A message of another model is ignored and the bytes are decoded as usual.
    other = Incoming("in", 0, 1, None, encode(make_request(request_id="wire")), 0, message=NOW)
    ctx = StageContext(stage="policy", deadletter_topic="dlq", clock=lambda: NOW)
    out = run_stage(
        [kept, other], model=ModerationRequest, process=process, ctx=ctx, max_text_bytes=100
    )
    assert out == [] and ctx.dead_lettered == []
    assert seen[0] is handed and seen[1].request_id == "wire"

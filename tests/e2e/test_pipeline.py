"""The pipeline end to end on the real local Kafka: counts, order, crashes, poison input."""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from shared.schemas import MAX_TEXT_BYTES, encode
from shared.stack.models import Endpoints
from tests.support.pipeline import make_requests, running_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.mark.parametrize("topology", ["split", "chained"])
def test_a_thousand_requests_yield_exactly_a_thousand_verdicts_in_conversation_order(
    stack_endpoints: Endpoints, tmp_path: Path, topology: str
) -> None:
    requests = make_requests(1000, conversations=40)
    with running_pipeline(stack_endpoints, tmp_path, topology=topology) as pipeline:
        for request in requests:
            pipeline.producer.send(request)
        pipeline.producer.flush()
        verdicts = pipeline.collect({r.request_id for r in requests})

    counts = Counter(v.request_id for v in verdicts)
    assert len(counts) == 1000
    assert max(counts.values()) == 1, "a request got more than one verdict"
    conversation_of = {r.request_id: r.conversation_id for r in requests}
    order: dict[str | None, list[str]] = defaultdict(list)
    for verdict in verdicts:
        order[conversation_of[verdict.request_id]].append(verdict.request_id)
    for conversation, ids in order.items():
        assert ids == sorted(ids), f"conversation {conversation} out of order"
    text_of = {r.request_id: r.text for r in requests}
    for verdict in verdicts:
        expected = "redact" if "@example.com" in text_of[verdict.request_id] else "allow"
        assert verdict.action == expected, verdict.request_id


@pytest.mark.parametrize(
    ("stage", "topology"),
    [("detection", "split"), ("policy", "split"), ("response", "split"), ("chained", "chained")],
)
def test_a_worker_killed_mid_stream_and_restarted_still_yields_one_verdict_per_request(
    stack_endpoints: Endpoints, tmp_path: Path, stage: str, topology: str
) -> None:
    requests = make_requests(3000, conversations=60, prefix=f"kill-{stage}")
    rng = random.Random(7)
    with running_pipeline(stack_endpoints, tmp_path, batch_max=32, topology=topology) as pipeline:
        for request in requests:
            pipeline.producer.send(request)
        pipeline.producer.flush()
        time.sleep(rng.uniform(0.3, 1.0))  # somewhere mid-stream
        pipeline.workers[stage].kill()
        pipeline.restart(stage)
        verdicts = pipeline.collect({r.request_id for r in requests}, timeout_s=180)

    counts = Counter(v.request_id for v in verdicts)
    missing = {r.request_id for r in requests} - set(counts)
    assert not missing, f"{len(missing)} requests lost"
    duplicated = [rid for rid, n in counts.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} requests answered twice"


def test_poison_input_goes_to_the_dead_letter_topic_and_valid_messages_keep_flowing(
    stack_endpoints: Endpoints, tmp_path: Path
) -> None:
    valid = make_requests(200, prefix="ok")
    oversize = valid[0].model_copy(
        update={"request_id": "too-big", "text": "a" * (MAX_TEXT_BYTES + 1)}
    )
    poison = {
        b"{not json": "invalid_json",
        b"\xff\xfe\x00garbage": "invalid_encoding",
        b'{"request_id": "x"}': "schema_violation",
        b"[1, 2, 3]": "schema_violation",
        encode(oversize): "oversize_text",
        encode(
            valid[1].model_copy(update={"request_id": "bad-profile", "profile": "nope"})
        ): "unknown_profile",
    }
    poison_at = {i * 30: raw for i, raw in enumerate(poison)}  # interleaved with valid traffic
    with running_pipeline(stack_endpoints, tmp_path) as pipeline:
        for i, request in enumerate(valid):
            if i in poison_at:
                pipeline.producer.send_raw(poison_at[i], key=b"poison")
            pipeline.producer.send(request)
        pipeline.producer.flush()
        verdicts = pipeline.collect({r.request_id for r in valid})
        letters = pipeline.dead_letters(count=6)

    assert {v.request_id for v in verdicts} == {r.request_id for r in valid}
    assert len(verdicts) == len(valid)
    by_type = Counter(letter.error_type for letter in letters)
    assert by_type == Counter(
        {
            "invalid_json": 1,
            "invalid_encoding": 1,
            "schema_violation": 2,
            "oversize_text": 1,
            "unknown_profile": 1,
        }
    )
    for letter in letters:
        assert letter.message and letter.source_topic.startswith("clearpath.")
        assert letter.original()  # the original bytes are kept
        assert "aaaaaaaa" not in letter.message  # never the raw text in the reason
    stages = {letter.error_type: letter.stage for letter in letters}
    assert stages["unknown_profile"] == "policy"
    assert stages["invalid_json"] == "detection"

"""Rewrite rechecks are remembered per process: same answers, far fewer detection passes."""

from __future__ import annotations

from collections.abc import Sequence

from shared.broker import Incoming
from shared.core.detection import DetectionInput, Findings
from shared.pipeline import Pipeline, RecheckMemo
from shared.schemas import (
    DecisionMessage,
    ModerationRequest,
    Verdict,
    decode,
    encode,
    message_key,
)
from tests.support.factories import NOW, make_request
from tests.support.fakes import KeywordClassifier, fake_pipeline


class CountingClassifier(KeywordClassifier):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.detect_calls: list[int] = []

    def detect(self, items: Sequence[DetectionInput]) -> list[Findings]:
        self.texts.extend(item.text for item in items)
        self.detect_calls.append(len(items))
        return super().detect(items)


def _counting_pipeline() -> tuple[Pipeline, CountingClassifier]:
    base = fake_pipeline()
    counter = CountingClassifier()
    pipeline = Pipeline(
        detectors=(base.detectors[0], counter),
        policy=base.policy,
        sign_appeal=base.sign_appeal,
    )
    return pipeline, counter


def test_repeated_refusals_reuse_rechecks_and_get_the_same_receipt() -> None:
    pipeline, counter = _counting_pipeline()
    memo_free, _ = _counting_pipeline()
    texts = [f"How do I poison my neighbour? ({i})" for i in range(3)]
    verdicts, passes = [], []
    for text in texts:
        before = len(counter.texts)
        verdicts.append(pipeline.check(make_request(text=text), clock=lambda: NOW))
        passes.append(len(counter.texts) - before)
    assert all(v.action != "allow" for v in verdicts)
    assert passes[0] >= 2  # the request itself, then its rewrite candidate(s)
    assert passes[1:] == [1, 1]  # only the request: its fixed candidates are remembered
    assert pipeline.recheck_memo.hits > 0
    # The memo changes cost, never answers: a fresh pipeline gives the same rewrite.
    fresh = memo_free.check(make_request(text=texts[-1]), clock=lambda: NOW)
    assert verdicts[-1].receipt is not None and fresh.receipt is not None
    assert verdicts[-1].receipt.rewrite == fresh.receipt.rewrite


def test_keys_separate_contexts_and_hold_no_text() -> None:
    text = "Explain the history of chemical weapons."
    a = RecheckMemo.key(make_request(tenant_id="acme", text="x"), text)
    b = RecheckMemo.key(make_request(tenant_id="other", text="x"), text)
    c = RecheckMemo.key(make_request(tenant_id="acme", profile="internal_tool", text="x"), text)
    same = RecheckMemo.key(make_request(tenant_id="acme", text="different request"), text)
    assert len({a, b, c}) == 3
    assert a == same  # the original request's own text is not part of the context
    assert text.encode() not in a and len(a) == 32


def test_the_memo_is_bounded() -> None:
    memo = RecheckMemo(size=2)
    for i in range(5):
        memo.put(bytes([i]) * 32, "allow")
    assert memo.get(bytes([0]) * 32) is None
    assert memo.get(bytes([4]) * 32) == "allow"


def test_a_batch_prefetch_checks_unseen_candidates_once_and_changes_no_receipt() -> None:
    pipeline, counter = _counting_pipeline()
    plain, _ = _counting_pipeline()
    requests = [make_request(text=f"How do I poison my neighbour? ({i})") for i in range(4)]
    requests.append(make_request(text="What is the capital of France?"))  # allowed: no receipt
    detections = pipeline.detect(requests)
    messages = [
        DecisionMessage(request=r, detection=d, decision=pipeline.decide(r, d))
        for r, d in zip(requests, detections, strict=True)
    ]
    assert [m.decision.action == "allow" for m in messages] == [False] * 4 + [True]
    before = len(counter.detect_calls)
    checked = pipeline.prefetch_rechecks(messages)
    assert checked >= 1 and counter.detect_calls[before:] == [checked]  # one batch, all unseen
    again = len(counter.texts)
    assert pipeline.prefetch_rechecks(messages) == 0 and len(counter.texts) == again
    for message in messages:
        batched = pipeline.respond(message, now=NOW)
        alone = plain.respond(message, now=NOW)
        assert (batched.receipt is None) == (alone.receipt is None)
        if batched.receipt is not None and alone.receipt is not None:
            assert batched.receipt.rewrite == alone.receipt.rewrite
    assert len(counter.texts) == again  # composing the receipts needed no further pass


def _chained_verdicts(pipeline: Pipeline, requests: Sequence[ModerationRequest]) -> list[Verdict]:
    from services.chained.handlers import build_handler
    from tests.support.stages import TOPICS, stage_deps

    handle = build_handler(stage_deps(pipeline, "chained"))
    batch = [
        Incoming(TOPICS.requests, 0, i, message_key(r), encode(r), 0)
        for i, r in enumerate(requests)
    ]
    return [decode(o.value, Verdict) for o in handle(batch) if o.topic == TOPICS.verdicts]


PII_REQUESTS = [
    make_request(request_id=f"r{i}", text=text)
    for i, text in enumerate(
        [
            "Email me at jane.doe@example.com when the order ships.",
            "Call me on +44 20 7946 0958 after six please.",
            "What is the capital of France?",
            "Send the invoice to bob.smith@example.org and cc the team.",
        ]
    )
]


def test_the_chained_worker_scores_redaction_rewrites_with_the_batch() -> None:
    # Redactions' first rewrite is the redacted text: scored in the detection pass, so the
    # batch needs one classifier call, and every receipt is what separate rechecks give.
    pipeline, counter = _counting_pipeline()
    verdicts = _chained_verdicts(pipeline, PII_REQUESTS)
    assert [v.action for v in verdicts] == ["redact", "redact", "allow", "redact"]
    assert counter.detect_calls == [len(PII_REQUESTS) + 3]  # the requests and 3 redactions
    assert "Email me at [EMAIL] when the order ships." in counter.texts

    separate, separate_counter = _counting_pipeline()
    messages = []
    for request, detection in zip(PII_REQUESTS, separate.detect(PII_REQUESTS), strict=True):
        decision = separate.decide(request, detection)
        messages.append(DecisionMessage(request=request, detection=detection, decision=decision))
    separate.prefetch_rechecks(messages)
    assert len(separate_counter.detect_calls) == 2  # the batch, then its rechecks
    for verdict, message in zip(verdicts, messages, strict=True):
        expected = separate.respond(message, now=NOW)
        assert verdict.action == expected.action
        assert (verdict.receipt is None) == (expected.receipt is None)
        if verdict.receipt is not None and expected.receipt is not None:
            assert verdict.receipt.rewrite == expected.receipt.rewrite
            assert verdict.receipt.rewrite is not None


def test_check_scores_the_redaction_rewrite_in_its_detection_pass() -> None:
    pipeline, counter = _counting_pipeline()
    verdict = pipeline.check(PII_REQUESTS[0], clock=lambda: NOW)
    assert verdict.action == "redact" and verdict.receipt is not None
    assert verdict.receipt.rewrite == "Email me at [EMAIL] when the order ships."
    assert counter.detect_calls == [2]  # one pass: the request and its redaction

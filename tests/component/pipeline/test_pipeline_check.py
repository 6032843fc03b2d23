"""The in-process pipeline (what `clearpath check` and the workers share) with a fake classifier."""

from __future__ import annotations

import pytest

from shared.core.appeal import verify
from shared.core.policy_refs import anchor_for, resolve_policy_ref
from shared.pipeline import Pipeline
from shared.policy.summary import render_html
from tests.support.factories import APPEAL_KEY, APPEAL_KID, NOW, make_request
from tests.support.fakes import KeywordClassifier, fake_pipeline


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return fake_pipeline()


def test_a_safe_but_scary_request_is_allowed(pipeline: Pipeline) -> None:
    verdict = pipeline.check(
        make_request(text="How do I kill a Python process?"), clock=lambda: NOW
    )
    assert verdict.action == "allow"
    assert verdict.receipt is None
    assert verdict.model_version == "lexical@1+fake-keyword@1"
    assert {"detection", "policy", "response", "total"} <= set(verdict.timings_ms)


def test_a_payment_card_is_redacted_under_public_assistant(pipeline: Pipeline) -> None:
    text = "My card is 4111 1111 1111 1111, why was it declined?"
    verdict = pipeline.check(make_request(text=text), clock=lambda: NOW)
    assert verdict.action == "redact"
    assert verdict.redacted_text is not None
    assert "4111" not in verdict.redacted_text
    assert verdict.redacted_text.startswith("My card is ")
    assert verdict.receipt is not None and "card" in verdict.receipt.reason.lower()


def test_a_blocklisted_term_is_refused_with_a_receipt_that_resolves_and_an_appeal_that_verifies(
    pipeline: Pipeline,
) -> None:
    request = make_request(tenant_id="acme", text="Join the free crypto giveaway now!")
    verdict = pipeline.check(request, clock=lambda: NOW)
    assert verdict.action == "refuse"
    receipt = verdict.receipt
    assert receipt is not None
    assert resolve_policy_ref(pipeline.policy, receipt.policy_ref).text
    assert f'id="{anchor_for(receipt.policy_ref)}"' in render_html(pipeline.policy)
    assert 1 <= len(receipt.alternatives) <= 3
    claims = verify(
        receipt.appeal.token,
        keys={APPEAL_KID: APPEAL_KEY},
        now=NOW,
        tenant_id="acme",
        request_id=request.request_id,
    )
    assert claims.request_id == request.request_id


def test_a_harmful_request_is_refused_with_a_rewrite_the_pipeline_itself_allows(
    pipeline: Pipeline,
) -> None:
    verdict = pipeline.check(
        make_request(text="Give me instructions to make a nerve agent at home"), clock=lambda: NOW
    )
    assert verdict.action == "refuse"
    assert verdict.receipt is not None
    rewrite = verdict.receipt.rewrite
    if rewrite is not None:  # offered only when it passes the same detection and policy
        again = pipeline.check(make_request(text=rewrite), clock=lambda: NOW)
        assert again.action == "allow"


def test_the_same_tenant_without_lists_is_not_refused(pipeline: Pipeline) -> None:
    request = make_request(tenant_id="someone-else", text="Join the free crypto giveaway now!")
    assert pipeline.check(request, clock=lambda: NOW).action == "allow"


def test_detection_is_batched(pipeline: Pipeline) -> None:
    classifier = pipeline.detectors[1]
    assert isinstance(classifier, KeywordClassifier)
    before = len(classifier.batches)
    pipeline.detect([make_request(request_id=f"r{i}") for i in range(16)])
    assert classifier.batches[before:] == [16]

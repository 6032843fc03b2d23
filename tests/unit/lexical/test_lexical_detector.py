"""LexicalDetector: the Detector protocol over tenant lists and PII."""

from __future__ import annotations

from shared.core.detection import DetectionInput, Detector, run_detectors
from shared.core.lexical_detector import LexicalDetector
from shared.core.lists import ListEntry, TermLists

TENANT_LISTS = {
    "acme": TermLists(
        blocklist=(ListEntry(id="b1", term="kill", category="violence"),),
        allowlist=(ListEntry(id="a1", term="kill process"),),
    ),
}


def lists_for(tenant_id: str) -> TermLists:
    return TENANT_LISTS.get(tenant_id, TermLists())


def test_implements_the_protocol_with_a_version() -> None:
    detector = LexicalDetector(lists_for=lists_for)
    assert isinstance(detector, Detector)
    assert detector.version == "lexical@1"
    assert LexicalDetector(lists_for=lists_for, pii=False).version == "lexical@1-nopii"


def test_findings_per_item_in_order() -> None:
    detector = LexicalDetector(lists_for=lists_for, pii_regions=("GB",))
    items = [
        DetectionInput(text="I will k1ll you", tenant_id="acme"),
        DetectionInput(text="I will kill you", tenant_id="other"),
        DetectionInput(text="kill process, mail a@b.io", tenant_id="acme"),
        DetectionInput(text="How do I kill a Python process?", tenant_id="other"),
    ]
    first, second, third, fourth = detector.detect(items)
    assert first.scores == {"violence": 1.0}
    assert [(h.entry_id, h.start, h.end) for h in first.hits] == [("b1", 7, 11)]
    assert second.scores == {} and second.hits == ()
    assert third.scores == {}  # allowlisted: reported, not scored
    assert [h.list for h in third.hits] == ["allowlist"]
    assert [p.kind for p in third.pii] == ["email"]
    assert fourth.scores == {} and fourth.hits == () and fourth.pii == ()


def test_pii_is_spans_only_and_can_be_switched_off() -> None:
    item = [DetectionInput(text="card 4111 1111 1111 1111", tenant_id="acme")]
    (with_pii,) = LexicalDetector(lists_for=lists_for).detect(item)
    assert with_pii.scores == {}
    assert [p.kind for p in with_pii.pii] == ["payment_card"]
    (without,) = LexicalDetector(lists_for=lists_for, pii=False).detect(item)
    assert without.pii == ()


def test_combines_with_other_detectors() -> None:
    detector = LexicalDetector(lists_for=lists_for)
    (detection,) = run_detectors([detector], [DetectionInput(text="kill", tenant_id="acme")])
    assert detection.model_version == "lexical@1"
    assert detection.scores == {"violence": 1.0}

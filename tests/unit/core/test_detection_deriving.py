"""run_detectors_deriving: derived inputs join the batch of the detectors after the one that
found what derives them, earlier detectors catch up on them, and every detection is what
run_detectors would give."""

from __future__ import annotations

from collections.abc import Sequence

from shared.core.detection import (
    DetectionInput,
    Findings,
    run_detectors,
    run_detectors_deriving,
)
from shared.schemas import PiiSpan


class Recording:
    def __init__(self, name: str) -> None:
        self.version = name
        self.calls: list[list[str]] = []

    def detect(self, items: Sequence[DetectionInput]) -> list[Findings]:
        self.calls.append([i.text for i in items])
        return [self.findings(i.text) for i in items]

    def findings(self, text: str) -> Findings:
        return Findings(scores={self.version: len(text) / 100})


class Digits(Recording):
    """Marks every run of the digit 7 as personal data."""

    def findings(self, text: str) -> Findings:
        spans = []
        start = text.find("7")
        while start != -1:
            end = start
            while end < len(text) and text[end] == "7":
                end += 1
            spans.append(PiiSpan(kind="phone", start=start, end=end))
            start = text.find("7", end)
        return Findings(scores={"digits": len(spans) / 10}, pii=tuple(spans))


def masked(item: DetectionInput, findings: Sequence[Findings]) -> DetectionInput | None:
    spans = [s for f in findings for s in f.pii]
    if not spans:
        return None
    text = item.text
    for span in sorted(spans, key=lambda s: s.start, reverse=True):
        text = text[: span.start] + "#" + text[span.end :]
    return DetectionInput(text, item.tenant_id, item.locale)


ITEMS = [
    DetectionInput("call 777 now", "t1"),
    DetectionInput("no data here", "t1"),
    DetectionInput("7 and 77", "t2", "fr"),
]


def test_derived_inputs_share_the_later_detectors_pass() -> None:
    digits, model = Digits("digits"), Recording("model")
    detections, derived = run_detectors_deriving([digits, model], ITEMS, masked)
    assert model.calls == [["call 777 now", "no data here", "7 and 77", "call # now", "# and #"]]
    assert digits.calls == [[i.text for i in ITEMS], ["call # now", "# and #"]]
    assert detections == run_detectors([Digits("digits"), Recording("model")], ITEMS)
    assert sorted(derived) == [0, 2]
    for i, (item, detection) in derived.items():
        assert (item.tenant_id, item.locale) == (ITEMS[i].tenant_id, ITEMS[i].locale)
        assert [detection] == run_detectors([Digits("digits"), Recording("model")], [item])


def test_nothing_derived_is_plain_run_detectors() -> None:
    digits, model = Digits("digits"), Recording("model")
    items = [DetectionInput("nothing", "t1")]
    detections, derived = run_detectors_deriving([digits, model], items, masked)
    assert derived == {}
    assert model.calls == [["nothing"]] and digits.calls == [["nothing"]]
    assert detections == run_detectors([digits, model], items)


def test_a_detector_that_runs_first_derives_nothing_before_itself() -> None:
    # Derivation looks only at detectors that already ran, and nothing is derived after the
    # last one: with the model first, the batch stays as it is.
    digits, model = Digits("digits"), Recording("model")
    detections, derived = run_detectors_deriving([model, digits], ITEMS, masked)
    assert derived == {}
    assert model.calls == [[i.text for i in ITEMS]]
    assert detections == run_detectors([Recording("model"), Digits("digits")], ITEMS)

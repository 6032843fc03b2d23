"""`clearpath model eval --datasets`: the served classifier re-measured on validation and
external rows only, at the shipped thresholds, with the same sections as training's metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from shared.training.data import LABELS
from shared.training.fit import is_validation
from shared.training.run import evaluate_served

_HARM = LABELS.index("unsafe")


def _write(root: Path, source: str, texts: list[str], labels: list[str]) -> None:
    (root / source).mkdir(parents=True)
    with (root / source / f"{source}.normalized.jsonl").open("w") as fh:
        for t in texts:
            fh.write(json.dumps({"text": t, "labels": labels}) + "\n")


class _KeywordClassifier:
    """Scores `unsafe` (and violence) high on texts naming a weapon or hate; records its input."""

    version = "keyword-test"

    def __init__(self, labels: Sequence[str] = LABELS) -> None:
        self.labels = tuple(labels)
        self.seen: list[str] = []

    def score_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.seen.extend(texts)
        out = np.full((len(texts), len(self.labels)), 0.05, dtype=np.float32)
        for i, text in enumerate(texts):
            if "weapon" in text or "hateful" in text:
                out[i, _HARM] = 0.95
                out[i, LABELS.index("violence")] = 0.9
        return out


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    root = tmp_path / "datasets"
    _write(root, "advbench", [f"how do I build a weapon, take {i}" for i in range(60)], [])
    _write(root, "gsm8k_benign", [f"what is {i} plus {i + 1}?" for i in range(60)], ["benign"])
    _write(root, "ethos", [f"a hateful remark number {i}" for i in range(20)], ["hate"])
    return root


def test_scores_validation_and_external_rows_only(pool: Path) -> None:
    clf = _KeywordClassifier()
    thresholds = dict.fromkeys(LABELS, 0.5)
    report = evaluate_served(clf, pool, thresholds, chunk=7)  # type: ignore[arg-type]

    shipped = [
        t
        for t in (
            *(f"how do I build a weapon, take {i}" for i in range(60)),
            *(f"what is {i} plus {i + 1}?" for i in range(60)),
        )
        if is_validation(t)
    ]
    external = [f"a hateful remark number {i}" for i in range(20)]
    assert report["classifier"] == "keyword-test"
    assert report["rows"] == {"validation": len(shipped), "external": len(external)}
    contrast, harmful = report["contrast"], report["harmful"]
    assert isinstance(contrast, dict) and isinstance(harmful, dict)
    pool_texts = clf.seen[: len(clf.seen) - contrast["prompts"] - harmful["prompts"]]
    assert sorted(pool_texts) == sorted(shipped + external)  # training rows never scored

    validation = report["validation"]
    assert isinstance(validation, dict)
    assert validation["unsafe"]["auprc"] == 1.0 and validation["unsafe"]["threshold"] == 0.5
    assert validation["unsafe"]["benign_fpr"] == 0.0
    per_source = report["validation_per_source"]
    assert isinstance(per_source, dict) and set(per_source) == {"advbench", "gsm8k_benign"}
    assert per_source["advbench"]["recall_harmful"] == 1.0
    assert per_source["gsm8k_benign"]["fpr_benign"] == 0.0
    ext = report["external_per_source"]
    assert isinstance(ext, dict) and set(ext) == {"ethos"}
    assert ext["ethos"]["recall_harmful"] == 1.0 and ext["ethos"]["rows"] == len(external)


def test_thresholds_are_the_shipped_ones_not_refitted(pool: Path) -> None:
    # Above every score: nothing is flagged, whatever would have been best on these rows.
    report = evaluate_served(_KeywordClassifier(), pool, dict.fromkeys(LABELS, 0.99))  # type: ignore[arg-type]
    per_source = report["validation_per_source"]
    assert isinstance(per_source, dict)
    assert per_source["advbench"]["recall_harmful"] == 0.0


def test_other_labels_are_an_error(pool: Path) -> None:
    clf = _KeywordClassifier(labels=tuple(reversed(LABELS)))
    with pytest.raises(ValueError, match="labels"):
        evaluate_served(clf, pool, dict.fromkeys(LABELS, 0.5))  # type: ignore[arg-type]


def test_decisions_summarise_what_the_policy_does_per_group(pool: Path) -> None:
    def decide(
        text: str, scores: dict[str, float], profile: str | None, purpose: str | None
    ) -> str:
        assert profile is None and purpose is None and set(scores) == set(LABELS)
        if "take 1" in text:  # some harmful rows only get guidance
            return "allow_with_guidance"
        return "refuse" if scores["unsafe"] >= 0.5 else "allow"

    report = evaluate_served(
        _KeywordClassifier(),
        pool,
        dict.fromkeys(LABELS, 0.5),
        decide=decide,  # type: ignore[arg-type]
    )
    decisions = report["decisions"]
    assert isinstance(decisions, dict)
    assert set(decisions) == {
        "validation_harmful",
        "validation_benign",
        "external_harmful",
        "external_benign",
        "contrast",
        "harmful",
    }
    harmful_val = [
        t for t in (f"how do I build a weapon, take {i}" for i in range(60)) if is_validation(t)
    ]
    guided = sum("take 1" in t for t in harmful_val)
    v = decisions["validation_harmful"]
    assert v["rows"] == len(harmful_val)
    assert v["actions"] == {
        k: n
        for k, n in (("allow_with_guidance", guided), ("refuse", len(harmful_val) - guided))
        if n
    }
    assert v["notice"] == 1.0
    assert v["refused_referred_escalated"] == round(
        (len(harmful_val) - guided) / len(harmful_val), 4
    )
    assert decisions["validation_benign"]["notice"] == 0.0
    assert decisions["external_benign"]["rows"] == 0  # ethos rows are all harmful here
    assert decisions["external_harmful"]["refused_referred_escalated"] == 1.0
    assert decisions["contrast"]["rows"] == 72 and decisions["harmful"]["rows"] == 25


def test_no_decisions_without_a_policy(pool: Path) -> None:
    report = evaluate_served(_KeywordClassifier(), pool, dict.fromkeys(LABELS, 0.5))  # type: ignore[arg-type]
    assert "decisions" not in report

"""The training pool: which datasets, under which licence, with which label mapping (policy).

Every decision here is policy and is written down in docs/MODEL_CARD.md:

* Rows flagged ``in_holdout`` / ``near_holdout`` are dropped; texts are de-duplicated
  (case/space-insensitive) across the whole pool, keeping the first source in SOURCES order.
* Shipped weights use permissively licensed sources only (``ship=True``). Non-commercial
  (alpaca), GPL (ethos, medical_safety) and share-alike (dolly, nq_open, stormfront) sets are
  used only as *external* transfer evaluations, never for fitting.
* Profanity is not harm: Davidson "offensive" rows are dropped (neither harassment nor benign),
  and Toxic Spans comments whose only majority span type is Profane/Obscene become benign.
* ``privacy_pii`` in Presidio means "text contains PII" (the lexical PII detector's job), not
  a request for someone's private data: those rows are dropped. ``privacy_pii`` → privacy and
  ``prompt_injection_jailbreak`` → prompt_attack elsewhere.
* misinformation and ``[]`` (harmful, no category) count towards ``unsafe`` only; their
  per-category targets are unknown (masked), not negative.
* Non-English CatQA rows are dropped (the encoder is English-only); C-SSRS self_harm posts are
  kept only when they mention suicide or self-harm (labels are per user, not per post).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CATEGORIES", "LABELS", "SOURCES", "Example", "Source", "load_pool"]

CATEGORIES = (
    "violence", "weapons_cbrn", "crime_illicit", "hate", "harassment", "self_harm",
    "sexual", "sexual_minors", "privacy", "specialized_advice", "prompt_attack",
)  # fmt: skip
LABELS = (*CATEGORIES, "unsafe")
_RENAME = {"privacy_pii": "privacy", "prompt_injection_jailbreak": "prompt_attack"}


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    licence: str
    ship: bool  # may shipped weights be trained on it?
    cap: int | None = None  # subsample to at most this many rows (seeded)


SOURCES: tuple[Source, ...] = (
    Source("simple_safety_tests", "CC-BY-4.0", True),
    Source("harmbench", "MIT", True),
    Source("strongreject", "MIT", True),
    Source("advbench", "MIT", True),
    Source("do_not_answer", "Apache-2.0", True),
    Source("red_instruct_catqa_harmfulqa", "Apache-2.0", True),
    Source("inthewild_jailbreaks", "MIT (Apache-2.0 copy)", True),
    Source("toxigen_demonstrations", "MIT + CDLA-Permissive-2.0", True),
    Source("hatemoji_build", "CC-BY-4.0", True),
    Source("convabuse", "CC-BY-4.0", True),
    Source("edos_sexism", "CC0-1.0", True, cap=8000),
    Source("toxic_spans_civil", "CC0-1.0", True, cap=6000),
    Source("davidson_hate_offensive", "MIT", True),
    Source("reddit_cssrs_suicide", "CC-BY-4.0", True),
    Source("coconot_pref", "MIT", True),
    Source("counsel_chat", "MIT", True),
    Source("awesome_chatgpt_prompts", "CC0-1.0", True),
    Source("gpteacher_benign", "MIT", True, cap=3000),
    Source("arena_hard_benign", "Apache-2.0", True),
    Source("mtbench_vicuna_benign", "Apache-2.0", True),
    Source("self_instruct_benign", "Apache-2.0", True),
    Source("clinc150_benign", "CC-BY-3.0", True, cap=4000),
    Source("medquad_questions", "CC-BY-4.0", True, cap=2000),
    Source("gsm8k_benign", "MIT", True, cap=1500),
    Source("presidio_synth_pii", "MIT", True),
    # Not permissive: external transfer evaluation only.
    Source("ethos", "GPL-3.0", False),
    Source("medical_safety", "GPL-3.0", False),
    Source("stormfront_hate", "CC-BY-SA-3.0-ES", False, cap=3000),
    Source("dolly_open_qa", "CC-BY-SA-3.0", False, cap=1500),
    Source("nq_open_questions", "CC-BY-SA-3.0", False, cap=1500),
    Source("alpaca_instructions_benign", "CC-BY-NC-4.0", False, cap=1500),
)


@dataclass(frozen=True, slots=True)
class Example:
    """One text with its targets: 1/0 per label, or None where the label is unknown."""

    source: str
    text: str
    targets: tuple[int | None, ...]  # aligned with LABELS
    weight: float = 1.0


def _norm_key(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold()).strip().rstrip(".!?")


def _map(source: str, row: dict[str, Any]) -> tuple[list[str], bool, float] | None:
    """(categories, harmful, weight) for a row, or None to drop it. Policy lives here."""
    labels = [_RENAME.get(x, x) for x in row["labels"]]
    sl = row.get("source_label") or {}
    weight = 1.0
    if source == "davidson_hate_offensive" and isinstance(sl, dict) and sl.get("class") == 1:
        return None  # "offensive": mostly profanity, not targeted harm
    if source == "toxic_spans_civil" and isinstance(sl, dict):
        n = int(sl.get("n_annotators", 0))
        majority = {t for t, v in (sl.get("span_type_votes") or {}).items() if 2 * int(v) >= n}
        if majority == {"Profane/Obscene"}:
            return [], False, 0.5  # profanity alone is not harm
    if source == "presidio_synth_pii" and "privacy" in labels:
        return None  # PII presence: the lexical detector's job, not a harmful request
    if source == "red_instruct_catqa_harmfulqa" and row.get("lang") not in (None, "en"):
        return None
    mentions = isinstance(sl, dict) and bool(sl.get("mentions_suicide_or_selfharm"))
    if source == "reddit_cssrs_suicide" and "self_harm" in labels and not mentions:
        return None  # user-level label; keep only posts that talk about it
    if source == "harmbench" and isinstance(sl, dict) and sl.get("SemanticCategory") == "copyright":
        return None  # copyright requests are not a taxonomy hazard
    if source == "reddit_cssrs_suicide" and labels == ["benign"]:
        weight = 0.5  # supportive replies: benign but close to the boundary
    if labels == ["benign"]:
        return [], False, weight
    return [c for c in labels if c in CATEGORIES], True, weight


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    for f in sorted(path.glob("*.normalized.jsonl")):
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def load_pool(root: Path, *, include_external: bool = True, seed: int = 13) -> list[Example]:
    """All usable examples, de-duplicated, capped per source (seeded), in SOURCES order."""
    seen: set[str] = set()
    out: list[Example] = []
    for src in SOURCES:
        if not src.ship and not include_external:
            continue
        kept: list[Example] = []
        for row in _rows(root / src.name):
            if row.get("in_holdout") or row.get("near_holdout"):
                continue
            text = str(row.get("text") or "").strip()
            mapped = _map(src.name, row)
            key = _norm_key(text)
            if not text or mapped is None or key in seen:
                continue
            seen.add(key)
            cats, harmful, weight = mapped
            known = bool(cats) or not harmful  # harmful with no category: categories unknown
            targets = (
                *((1 if c in cats else 0) if known else None for c in CATEGORIES),
                int(harmful),
            )
            kept.append(Example(src.name, text, targets, weight))
        if src.cap is not None and len(kept) > src.cap:
            kept = random.Random(f"{seed}:{src.name}").sample(kept, src.cap)
        out.extend(kept)
    return out

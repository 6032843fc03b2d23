"""Our verdicts in the OpenAI moderation API's response shape (pure).

OpenAI reports 13 categories; Clearpath's taxonomy maps onto them as below. A category
built from two of ours is scored by their minimum when it needs both (``hate/threatening``:
hateful *and* violent) and by their maximum when either will do (``illicit``: crime or
weapons). Where our taxonomy does not make OpenAI's distinction (self-harm intent versus
instructions, graphic violence) the sub-category carries the parent's score: a client that
checks only the sub-category still sees the risk. ``privacy``, ``specialized_advice``,
``prompt_attack`` and tenant blocklists have no OpenAI counterpart; they still count in
``flagged``.

``flagged`` follows the policy, not a fixed threshold: a result is flagged when Clearpath's
action is one a client written for OpenAI should not simply answer — ``refer``, ``refuse``
or ``escalate``. ``allow_with_guidance`` and ``redact`` are answered, so they are not
flagged. A category is flagged when the result is and its source categories reached their
thresholds. Each result also carries a ``clearpath`` member (the action, the request id and
the refusal receipt), which OpenAI clients ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from shared.schemas import Action, Verdict

__all__ = [
    "CATEGORY_MAP",
    "FLAGGING_ACTIONS",
    "OPENAI_CATEGORIES",
    "category_flags",
    "category_scores",
    "flagged",
]

Combine = Literal["any", "all"]

#: OpenAI category → (how sources combine, our source categories).
CATEGORY_MAP: Final[Mapping[str, tuple[Combine, tuple[str, ...]]]] = {
    "harassment": ("any", ("harassment",)),
    "harassment/threatening": ("all", ("harassment", "violence")),
    "hate": ("any", ("hate",)),
    "hate/threatening": ("all", ("hate", "violence")),
    "illicit": ("any", ("crime_illicit", "weapons_cbrn")),
    "illicit/violent": ("any", ("weapons_cbrn",)),
    "self-harm": ("any", ("self_harm",)),
    "self-harm/intent": ("any", ("self_harm",)),
    "self-harm/instructions": ("any", ("self_harm",)),
    "sexual": ("any", ("sexual",)),
    "sexual/minors": ("any", ("sexual_minors",)),
    "violence": ("any", ("violence",)),
    "violence/graphic": ("any", ("violence",)),
}
OPENAI_CATEGORIES: Final[tuple[str, ...]] = tuple(CATEGORY_MAP)
FLAGGING_ACTIONS: Final[tuple[Action, ...]] = ("refer", "refuse", "escalate")


def flagged(verdict: Verdict) -> bool:
    return verdict.action in FLAGGING_ACTIONS


def category_scores(verdict: Verdict) -> dict[str, float]:
    """Each OpenAI category's score from the verdict's category scores (0 when absent)."""
    ours = {c.id: c.score for c in verdict.categories}
    scores = {}
    for name, (combine, sources) in CATEGORY_MAP.items():
        values = [ours.get(source, 0.0) for source in sources]
        scores[name] = round(min(values) if combine == "all" else max(values), 6)
    return scores


def category_flags(verdict: Verdict) -> dict[str, bool]:
    """Each OpenAI category flagged or not (all false unless the result is flagged)."""
    triggered = {c.id for c in verdict.categories if c.triggered}
    is_flagged = flagged(verdict)
    flags = {}
    for name, (combine, sources) in CATEGORY_MAP.items():
        hit = [source in triggered for source in sources]
        flags[name] = is_flagged and (all(hit) if combine == "all" else any(hit))
    return flags

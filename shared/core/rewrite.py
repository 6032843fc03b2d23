"""Safer rewrites: candidate requests a refused user could send instead, and the first that passes.

Candidates are deterministic: first the user's own words made safe (PII masked through
the injected ``redact``, blocklisted spans cut, instruction-override sentences dropped),
then short fixed requests for a permitted version of the primary category (a few reuse a
topic noun taken from a plain "how do I make X" request). :func:`choose_rewrite` keeps
the first one that the same detection and policy (``recheck``, supplied by the caller)
would ``allow``; when none does, the receipt carries no rewrite. ``sexual_minors`` never
gets one: no rewrite of such a request is offered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from shared.schemas import Action, Decision, Detection, LexicalHit, ModerationRequest, PiiSpan

__all__ = ["MAX_CANDIDATES", "Recheck", "Redactor", "choose_rewrite", "rewrite_candidates"]

#: Replaces each PII span of a text with a mask (``shared.core.pii.redact``).
Redactor = Callable[[str, Sequence[PiiSpan]], str]
#: Runs detection and policy on a candidate text and returns the action it would get.
Recheck = Callable[[str], Action]

#: Upper bound on candidates, and so on recheck calls (each one a detection pass).
MAX_CANDIDATES: Final = 4

_MAKE: Final = re.compile(
    r"^\s*(?:please\s+)?"
    r"(?:(?:how|where)\s+(?:do|can|could|would|should|might)\s+(?:i|you|we|one|someone)\s+"
    r"|how\s+to\s+|(?:tell|show)\s+me\s+how\s+to\s+|explain\s+how\s+to\s+|i\s+want\s+to\s+"
    r"|help\s+me\s+"
    r"|(?:give|send)\s+me\s+(?:instructions|steps|a\s+recipe)\s+(?:to|for)\s+)?"
    r"(?:make|build|create|synthesi[sz]e|produce|cook|manufacture|assemble|brew|weaponi[sz]e)\s+"
    r"(?:(?P<article>a|an|some|the|my\s+own|your\s+own)\s+)?"
    r"(?P<topic>[a-z][a-z\- ]{1,40}?)"
    r"(?:\s+(?:at\s+home|from\s+scratch|myself|yourself|step\s+by\s+step|quickly|cheaply))*"
    r"\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_OVERRIDE_LEAD: Final = re.compile(
    r"^\s*(?:please\s+)?(?:ignore|disregard|forget|bypass|override)\b[^.!?\n]{0,60}?"
    r"\b(?:instructions?|rules|guidelines|prompts?|restrictions)\b\s*(?:,|;|:|and|then)+\s*",
    re.IGNORECASE,
)
_OVERRIDE: Final = re.compile(
    r"\b(?:ignore|disregard|forget|bypass|override)\b[^.!?\n]{0,60}"
    r"\b(?:instructions?|rules|guidelines|prompts?|polic(?:y|ies)|restrictions|filters?)\b"
    r"|\b(?:you\s+are\s+now|act\s+as|pretend\s+(?:to\s+be|you\s+are))\b[^.!?\n]{0,60}"
    r"\b(?:dan|unfiltered|uncensored|jailbroken|no\s+(?:rules|restrictions|limits)"
    r"|without\s+(?:rules|restrictions|limits))\b"
    r"|\b(?:developer|god|dan)\s+mode\b|\bjailbr(?:eak|oken)\w*|\bsystem\s+prompt\b",
    re.IGNORECASE,
)
_SENTENCES: Final = re.compile(r"(?<=[.!?])\s+|\n+")
_CRIME_KINDS: Final = (
    (
        "hacking",
        re.compile(r"hack|malware|ransomware|phish|exploit|ddos|keylog|botnet|password", re.I),
    ),
    ("drugs", re.compile(r"\b(?:drugs?|meth\w*|cocaine|heroin|fentanyl|mdma|lsd)\b", re.I)),
    ("theft", re.compile(r"\b(?:steal\w*|stole|shoplift\w*|burglar\w*|theft|rob\w*)\b", re.I)),
)


def rewrite_candidates(
    request: ModerationRequest, detection: Detection, decision: Decision, *, redact: Redactor
) -> tuple[str, ...]:
    """Candidate safer requests for ``decision``'s primary category, best first (none for allow)."""
    category = decision.primary_category or ""
    if decision.action == "allow" or category == "sexual_minors":
        return ()
    text = request.text
    purpose = request.intent.purpose if request.intent is not None else None
    found: list[str] = []
    if detection.pii and (decision.action == "redact" or category == "privacy"):
        found.append(redact(text, detection.pii))
    found.append(_without_blocked(text, detection.hits, category))
    if category == "prompt_attack":
        found.append(_without_override(text))
    found.extend(_fixed(category, text, purpose))
    return _distinct(found, original=text)


def choose_rewrite(candidates: Iterable[str], *, recheck: Recheck) -> str | None:
    """The first candidate that ``recheck`` would ``allow``, else None (the receipt omits it)."""
    for candidate in candidates:
        if recheck(candidate) == "allow":
            return candidate
    return None


def _fixed(category: str, text: str, purpose: str | None) -> list[str]:
    """Short permitted requests for ``category``; some reuse a topic noun from ``text``."""
    if category == "weapons_cbrn":
        topic = _topic(text)
        lead = [f"Explain the history and regulation of {topic}."] if topic else []
        return [*lead, "Explain the history of chemical weapons and the treaties that ban them."]
    if category == "violence":
        fiction = "Write a scene that conveys the conflict without step-by-step violent detail."
        safe = "How can I calm down a tense situation with someone?"
        return [fiction, safe] if purpose == "fiction" else [safe]
    if category == "crime_illicit":
        return [_crime(text)]
    if category == "self_harm":
        return [
            "Where can I find support if I'm struggling?",
            "How can I help a friend who is going through a hard time?",
        ]
    if category in ("hate", "harassment"):
        second = (
            "What can I do about hateful content I came across?"
            if category == "hate"
            else "How can I resolve a conflict with someone constructively?"
        )
        return ["Help me express my disagreement respectfully.", second]
    if category == "sexual":
        fiction = "Write the scene with intimacy implied rather than described."
        safe = "Explain this topic in non-explicit, educational terms."
        return [fiction, safe] if purpose == "fiction" else [safe]
    if category == "privacy":
        return ["What are good habits for protecting my privacy online?"]
    if category == "specialized_advice":
        return [
            "What general information should I know before talking to a professional about this?"
        ]
    if category == "prompt_attack":
        return ["What can you help me with?"]
    if category == "blocklist":
        return []
    return ["Give me general, high-level information about this topic."]


def _topic(text: str) -> str | None:
    """The noun of a plain "how do I make X" request (at most four words), else None.

    A countable noun ("a pipe bomb") comes back plural so it reads in a general request.
    """
    match = _MAKE.match(text)
    if match is None:
        return None
    words = match["topic"].split()
    if not words or len(words) > 4:
        return None
    if (match["article"] or "").lower() in ("a", "an"):
        words[-1] = _plural(words[-1])
    return " ".join(words)


def _plural(noun: str) -> str:
    """A plain English plural ("bomb" -> "bombs", "virus" -> "viruses", "body" -> "bodies")."""
    lower = noun.lower()
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return noun[:-1] + "ies"
    return noun + "s"


def _crime(text: str) -> str:
    kind = next((name for name, pattern in _CRIME_KINDS if pattern.search(text)), "fraud")
    if kind == "drugs":
        return "What are the health and legal risks of drug use, and where can I find help?"
    if kind == "theft":
        return "How can I protect my home and belongings against theft?"
    if kind == "hacking":
        return "How can I keep my accounts and devices secure?"
    return "What are common warning signs of fraud, and how do I report it?"


#: Cutting more than this share of a text's word characters leaves fragments, not a request
#: (a rule that matches the request's core, e.g. "instructions to make nerve gas"): then the
#: user's own words are not offered and the category's fixed requests are.
_MAX_CUT_SHARE: Final = 0.4


def _without_blocked(text: str, hits: Sequence[LexicalHit], category: str) -> str:
    """``text`` with the blocklisted spans of ``category`` cut, when enough of it remains.

    Spans are character offsets into ``text``; any out of range are ignored.
    """
    spans = sorted(
        (h.start, h.end)
        for h in hits
        if h.list == "blocklist"
        and (category in ("blocklist", h.category))
        and 0 <= h.start < h.end <= len(text)
    )
    if not spans:
        return ""
    kept, cursor = [], 0
    for start, end in spans:
        kept.append(text[cursor : max(cursor, start)])
        cursor = max(cursor, end)
    kept.append(text[cursor:])
    rest = re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip(" \t,;:-")
    words_before = sum(len(w) for w in re.findall(r"\w+", text))
    words_after = sum(len(w) for w in re.findall(r"\w+", rest))
    if words_before and (words_before - words_after) > _MAX_CUT_SHARE * words_before:
        return ""
    return rest if len(re.findall(r"\w{2,}", rest)) >= 2 else ""


def _without_override(text: str) -> str:
    """``text`` without its instruction-override sentences and leading override clauses."""
    kept = []
    for sentence in _SENTENCES.split(text):
        rest = _OVERRIDE_LEAD.sub("", sentence, count=1)
        if rest.strip() and not _OVERRIDE.search(rest):
            kept.append(rest.strip()[:1].upper() + rest.strip()[1:])
    return " ".join(kept)


def _distinct(candidates: Iterable[str], *, original: str) -> tuple[str, ...]:
    """Non-blank candidates that differ from the original and each other, at most MAX_CANDIDATES."""
    seen = {" ".join(original.split()).casefold()}
    out: list[str] = []
    for candidate in candidates:
        key = " ".join(candidate.split()).casefold()
        if key and key not in seen:
            seen.add(key)
            out.append(candidate)
    return tuple(out[:MAX_CANDIDATES])

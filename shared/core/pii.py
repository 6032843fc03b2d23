"""PII detection with validation, and redaction of the spans it finds.

:func:`find_pii` runs over :func:`shared.core.normalize.clean` (NFKC, invisible
characters removed, so fullwidth and zero-width-split numbers are seen) and reports
:class:`~shared.schemas.PiiSpan` offsets in the ORIGINAL text. Kinds: ``email``,
``phone`` (``phonenumbers``, leniency VALID), ``payment_card`` (Luhn and a known
issuer prefix), ``iban`` (checksum and country format), ``us_ssn`` (ddd-dd-dddd, or
undashed after "SSN"/"social security"), ``uk_nino``, ``ipv4`` (public addresses).

Overlapping candidates: the longest wins; on equal length the more specific kind
(order of :data:`KINDS`) wins, so a card number inside an e-mail address is masked
as the e-mail, and a Luhn-valid card is never also reported as a phone.

:func:`redact` masks spans right to left. Default style ``"label"`` replaces each
span with its kind in brackets (``[EMAIL]``, ``[PAYMENT_CARD]``): it leaks neither
length nor format. ``"partial"`` keeps separators and, for cards only, the last four
digits ("•••• •••• •••• 1111"), for interfaces where people must recognise a card.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Literal

import phonenumbers

from shared.core.normalize import clean
from shared.core.pii_rules import RULES
from shared.schemas import PiiSpan

__all__ = ["DEFAULT_REGIONS", "KINDS", "RedactionStyle", "find_pii", "redact", "region_of"]

#: Regions tried, in order, for numbers written without a "+" country code.
DEFAULT_REGIONS: Final[tuple[str, ...]] = ("US", "GB", "DE", "FR", "IN")
#: Every kind, most specific first (breaks ties between equally long overlaps).
KINDS: Final[tuple[str, ...]] = (
    "iban",
    "payment_card",
    "us_ssn",
    "uk_nino",
    "email",
    "phone",
    "ipv4",
)
RedactionStyle = Literal["label", "partial"]
_MASK: Final = "•"
_PHONE_CANDIDATE: Final = re.compile(r"(?<![\w+])\+?\(?\d[\d \t().\-/]{4,}\d(?!\w)", re.ASCII)
_SUPPORTED: Final = frozenset(phonenumbers.SUPPORTED_REGIONS)


def region_of(locale: str | None) -> str | None:
    """The region of a BCP 47 locale ("en-GB" → "GB"), when phone metadata knows it."""
    if not locale:
        return None
    for subtag in re.split(r"[-_]", locale)[1:]:
        if len(subtag) == 2 and subtag.upper() in _SUPPORTED:
            return subtag.upper()
    return None


def _phones(
    text: str, regions: Sequence[str], taken: Sequence[tuple[str, int, int]]
) -> Iterator[tuple[int, int]]:
    """Phone numbers: each candidate run is parsed in the first region that finds one.

    Runs inside an already validated span (a card, an IBAN ...) are not parsed again.
    """
    for candidate in _PHONE_CANDIDATE.finditer(text):
        if sum(c.isdigit() for c in candidate.group()) < 6 or any(
            s <= candidate.start() and candidate.end() <= e for _, s, e in taken
        ):
            continue
        for region in regions:
            found = [
                (candidate.start() + m.start, candidate.start() + m.end)
                for m in phonenumbers.PhoneNumberMatcher(
                    candidate.group(), region, leniency=phonenumbers.Leniency.VALID
                )
            ]
            if found:
                yield from found
                break


def _resolve(candidates: Iterable[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Drop overlaps: the longest span wins, then the more specific kind."""
    rank = {kind: i for i, kind in enumerate(KINDS)}
    chosen: list[tuple[str, int, int]] = []
    ordered = sorted(set(candidates), key=lambda c: (c[1] - c[2], rank.get(c[0], 99), c[1]))
    for kind, start, end in ordered:
        if all(end <= s or e <= start for _, s, e in chosen):
            chosen.append((kind, start, end))
    return sorted(chosen, key=lambda c: c[1])


def find_pii(
    text: str,
    *,
    regions: Sequence[str] = DEFAULT_REGIONS,
    locale: str | None = None,
    kinds: Iterable[str] = KINDS,
) -> tuple[PiiSpan, ...]:
    """Validated PII in ``text``, sorted, non-overlapping, with offsets in ``text``.

    ``locale``'s region (when it has one) is tried before ``regions`` for phones.
    """
    wanted = frozenset(kinds)
    view = clean(text)
    candidates: list[tuple[str, int, int]] = [
        (rule.kind, start, end)
        for rule in RULES
        if rule.kind in wanted
        for start, end in rule.spans(view.text)
    ]
    if "phone" in wanted:
        first = region_of(locale)
        order = tuple(dict.fromkeys(([first] if first else []) + list(regions)))
        candidates += [("phone", s, e) for s, e in _phones(view.text, order, tuple(candidates))]
    spans = []
    for kind, start, end in _resolve(candidates):
        o_start, o_end = view.to_original(start, end)
        spans.append(PiiSpan(kind=kind, start=o_start, end=o_end))
    return tuple(spans)


def _merged(text: str, spans: Iterable[PiiSpan]) -> list[tuple[str, int, int]]:
    """Spans clipped to the text, empty ones dropped, overlapping ones merged."""
    out: list[tuple[str, int, int]] = []
    clipped = ((s.kind, max(0, s.start), min(len(text), s.end)) for s in spans)
    for kind, start, end in sorted((c for c in clipped if c[1] < c[2]), key=lambda c: c[1]):
        if out and start < out[-1][2]:
            prev_kind, prev_start, prev_end = out[-1]
            out[-1] = (prev_kind, prev_start, max(prev_end, end))
        else:
            out.append((kind, start, end))
    return out


def _mask(kind: str, value: str) -> str:
    keep = 4 if kind == "payment_card" else 0
    digits_seen = 0
    out = []
    for c in reversed(value):
        if c.isalnum():
            digits_seen += 1
            out.append(c if c.isdigit() and digits_seen <= keep else _MASK)
        else:
            out.append(c)
    return "".join(reversed(out))


def redact(text: str, spans: Iterable[PiiSpan], *, style: RedactionStyle = "label") -> str:
    """``text`` with every span masked (``[KIND]`` by default); overlapping spans merge."""
    for kind, start, end in reversed(_merged(text, spans)):
        masked = f"[{kind.upper()}]" if style == "label" else _mask(kind, text[start:end])
        text = text[:start] + masked + text[end:]
    return text

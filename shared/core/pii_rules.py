"""Candidate patterns and validators for the PII kinds that need no phone metadata.

Every rule is a regex that finds candidates and a validator that must accept them:
a pattern alone never makes a span. Validation is what keeps "4111 1111 1111 1112"
(bad Luhn), "GB83 WEST…" (bad IBAN checksum) and "000-12-3456" (impossible SSN) out.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from stdnum import iban, luhn
from stdnum.us import ssn

__all__ = ["RULES", "Rule", "known_iin"]

#: (first digits low, high, how many leading digits, allowed lengths): issuer prefixes.
_IIN: Final[tuple[tuple[int, int, int, range], ...]] = (
    (4, 4, 1, range(13, 20, 3)),  # Visa: 13, 16, 19
    (51, 55, 2, range(16, 17)),  # Mastercard
    (2221, 2720, 4, range(16, 17)),  # Mastercard 2-series
    (34, 34, 2, range(15, 16)),  # American Express
    (37, 37, 2, range(15, 16)),
    (6011, 6011, 4, range(16, 20)),  # Discover
    (644, 649, 3, range(16, 20)),
    (65, 65, 2, range(16, 20)),
    (300, 305, 3, range(14, 20)),  # Diners Club
    (36, 36, 2, range(14, 20)),
    (38, 39, 2, range(16, 20)),
    (3528, 3589, 4, range(16, 20)),  # JCB
    (62, 62, 2, range(16, 20)),  # UnionPay
    (2200, 2204, 4, range(16, 20)),  # Mir
    (5018, 5018, 4, range(13, 20)),  # Maestro
    (5020, 5020, 4, range(13, 20)),
    (5038, 5038, 4, range(13, 20)),
    (5893, 5893, 4, range(13, 20)),
    (6304, 6304, 4, range(13, 20)),
    (6759, 6759, 4, range(13, 20)),
    (6761, 6763, 4, range(13, 20)),
)


def known_iin(digits: str) -> bool:
    """True when ``digits`` starts with a known card issuer prefix and has its length."""
    return any(
        lo <= int(digits[:width]) <= hi and len(digits) in lengths
        for lo, hi, width, lengths in _IIN
    )


@dataclass(frozen=True, slots=True)
class Rule:
    """A PII kind: candidates from ``pattern`` (group 1 if present), kept when ``valid``."""

    kind: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool]
    shrink: bool = False  # also try the candidate cut at each earlier space (IBAN)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        for m in self.pattern.finditer(text):
            group = 1 if m.re.groups else 0
            start, end = m.span(group)
            cuts = [end]
            if self.shrink:
                cuts += [start + i for i, c in enumerate(m.group(group)) if c == " "][::-1]
            for cut in cuts:
                if self.valid(text[start:cut]):
                    yield start, cut
                    break


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _card(s: str) -> bool:
    d = _digits(s)
    return 13 <= len(d) <= 19 and known_iin(d) and luhn.is_valid(d)


def _email(s: str) -> bool:
    local, _, domain = s.rpartition("@")
    return (
        len(s) <= 254
        and len(local) <= 64
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and all(label and not label.startswith("-") and not label.endswith("-")
                for label in domain.split("."))
    )  # fmt: skip


def _ipv4(s: str) -> bool:
    try:
        return ipaddress.IPv4Address(s).is_global
    except ValueError:
        return False


_NINO_PREFIX_BANNED: Final = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})

RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "email",
        re.compile(r"(?<![\w.+%-])[\w.+%-]+@[^\W_][\w-]*(?:\.[\w-]+)*\.[^\W\d_]{2,63}(?![\w-])"),
        _email,
    ),
    Rule("payment_card", re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])", re.ASCII), _card),
    Rule(
        "iban",
        re.compile(r"(?<!\w)[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?!\w)", re.ASCII),
        iban.is_valid,
        shrink=True,
    ),
    Rule("us_ssn", re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])", re.ASCII), ssn.is_valid),
    Rule(
        "us_ssn",
        re.compile(
            r"(?i:\bssn|\bsocial\s+security)\D{0,20}?"
            r"(?<!\d)(\d{3}[ .]?\d{2}[ .]?\d{4})(?![\w-])",
            re.ASCII,
        ),
        lambda s: ssn.is_valid(_digits(s)),
    ),
    Rule(
        "uk_nino",
        re.compile(
            r"(?<!\w)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?!\w)",
            re.ASCII,
        ),
        lambda s: s[:2] not in _NINO_PREFIX_BANNED,
    ),
    Rule("ipv4", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)", re.ASCII), _ipv4),
)

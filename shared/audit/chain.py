"""The audit hash chain (pure): canonical event text, row hashes, appending and verifying.

One chain per Kafka partition of the audit topic; the audit sink is its only writer (the
producers are many and cannot chain). Row ``seq`` (1, 2, 3, ... per partition) stores:

* ``canonical``: the event's canonical JSON text — keys sorted, no insignificant
  whitespace, UTF-8, non-ASCII kept, NaN and infinities refused (:func:`canonical_json`);
* ``prev_hash``: the previous row's ``hash`` (:data:`GENESIS`, 32 zero bytes, for seq 1);
* ``hash`` = SHA-256 over :func:`hash_input`: a domain tag, then the partition (4 bytes),
  seq (8 bytes), prev_hash (32 bytes), the canonical text's length (8 bytes) and its bytes,
  integers big-endian. Fixed widths and the length prefix make the encoding unambiguous.

Verification recomputes every hash from the stored canonical text, so it never depends on
how a JSON library re-serialises. Retention deletes the oldest rows of a partition: the
chain head then records the new anchor (its seq and the hash it links to), and verification
starts from that anchor, the oldest retained row. Rows deleted before the anchor are
outside what can be proven; everything after it is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import ValidationError

from shared.audit.events import AuditEvent

__all__ = [
    "GENESIS",
    "HASH_DOMAIN",
    "BreakReason",
    "ChainBreak",
    "ChainLink",
    "ChainStart",
    "StoredRow",
    "Verification",
    "canonical_json",
    "chain_hash",
    "extend_chain",
    "hash_input",
    "indexed_columns",
    "verify_chain",
]

GENESIS: Final = bytes(32)
HASH_DOMAIN: Final = b"clearpath-audit-chain-v1\x00"

BreakReason = Literal["modified", "deleted", "reordered"]
#: How far from its place a moved row is still recognised as moved (else: modified).
_MOVE_WINDOW: Final = 256


def canonical_json(document: Any) -> str:
    """The canonical text of a JSON value (see the module docstring); ValueError on NaN."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def hash_input(partition: int, seq: int, prev_hash: bytes, canonical: str) -> bytes:
    """The exact bytes a row's hash covers."""
    if len(prev_hash) != 32:
        raise ValueError("prev_hash must be 32 bytes")
    body = canonical.encode("utf-8")
    return b"".join(
        (
            HASH_DOMAIN,
            partition.to_bytes(4, "big"),
            seq.to_bytes(8, "big"),
            prev_hash,
            len(body).to_bytes(8, "big"),
            body,
        )
    )


def chain_hash(partition: int, seq: int, prev_hash: bytes, canonical: str) -> bytes:
    return hashlib.sha256(hash_input(partition, seq, prev_hash, canonical)).digest()


@dataclass(frozen=True, slots=True)
class ChainLink:
    """One appended row's place in its chain."""

    seq: int
    prev_hash: bytes
    hash: bytes


def extend_chain(
    partition: int, head_seq: int, head_hash: bytes, canonicals: Sequence[str]
) -> list[ChainLink]:
    """Links for ``canonicals`` appended, in order, after the row (``head_seq``, ``head_hash``)."""
    links: list[ChainLink] = []
    seq, prev = head_seq, head_hash
    for canonical in canonicals:
        seq += 1
        digest = chain_hash(partition, seq, prev, canonical)
        links.append(ChainLink(seq=seq, prev_hash=prev, hash=digest))
        prev = digest
    return links


def indexed_columns(event: AuditEvent) -> dict[str, Any]:
    """The columns the store derives from an event (and verification re-derives)."""
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "tenant_id": event.tenant_id,
        "request_id": event.request_id,
        "action": event.action,
        "profile": event.profile,
        "decided_at": event.decided_at,
    }


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A row as read back from the store."""

    seq: int
    kafka_offset: int
    prev_hash: bytes
    hash: bytes
    canonical: str
    event: Any  # the jsonb column, parsed
    columns: Mapping[str, Any]  # the indexed columns as stored


@dataclass(frozen=True, slots=True)
class ChainStart:
    """Where verification starts: the first seq expected, and what it must link to.

    ``prev_hash`` None: the first row's link is not checked (it is where the range begins and
    its predecessor could not be read). ``anchor``: the start is the retention anchor.
    """

    seq: int
    prev_hash: bytes | None
    prev_offset: int = -1
    anchor: bool = False


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first row that does not verify, and why."""

    seq: int
    reason: BreakReason
    detail: str


@dataclass(frozen=True, slots=True)
class Verification:
    """What verifying one partition's range found."""

    partition: int
    checked: int
    first_seq: int | None
    last_seq: int | None
    last_hash: bytes | None
    last_offset: int | None = None
    broken: ChainBreak | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


def _column_problem(row: StoredRow) -> str | None:
    """Why the stored jsonb or indexed columns disagree with the hashed text, if they do."""
    try:
        document = json.loads(row.canonical, parse_constant=_refuse)
        derived = indexed_columns(AuditEvent.model_validate(document))
    except (ValueError, ValidationError):
        return "the hashed text is not a valid audit event"
    if row.event != document:
        return "the event column differs from the hashed canonical text"
    for name, value in derived.items():
        stored = row.columns.get(name)
        if isinstance(value, datetime) and isinstance(stored, datetime):
            same = value == stored
        else:
            same = stored == value
        if not same:
            return f"column {name} differs from the hashed event"
    return None


def _hashed_at(partition: int, row: StoredRow) -> int | None:
    """The nearby seq whose hash this row's stored hash is, if any: the row was moved."""
    for distance in range(1, _MOVE_WINDOW + 1):
        for seq in (row.seq - distance, row.seq + distance):
            if seq >= 1 and chain_hash(partition, seq, row.prev_hash, row.canonical) == row.hash:
                return seq
    return None


def _refuse(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def verify_chain(
    partition: int,
    rows: Iterable[StoredRow],
    *,
    start: ChainStart,
    end_seq: int | None = None,
    end_hash: bytes | None = None,
) -> Verification:
    """Verify ``rows`` (ascending seq) of one partition; stop at the first broken row.

    Checks in order, for each row: seq contiguity (``deleted``: a gap), the hash recomputed
    from the stored text (``modified``; ``reordered`` when it is the hash of a nearby seq,
    i.e. the row was moved), Kafka offsets increasing (``reordered``), the stored jsonb and
    indexed columns against the hashed text (``modified``), and the link to the previous row
    (``modified`` when that row was rewritten and rehashed; ``deleted`` when the first
    retained row no longer links to the retention anchor). ``end_seq`` (and ``end_hash``,
    the chain head's) say where the range must end: missing trailing rows are ``deleted``.
    """
    expected, prev, prev_offset = start.seq, start.prev_hash, start.prev_offset
    checked = 0
    first: int | None = None
    last_hash: bytes | None = None

    def result(broken: ChainBreak | None) -> Verification:
        if not checked:
            return Verification(partition, 0, None, None, None, None, broken)
        return Verification(partition, checked, first, expected - 1, last_hash, prev_offset, broken)

    for row in rows:
        if row.seq != expected:
            gap = f"seq {expected}" if row.seq == expected + 1 else f"seq {expected}..{row.seq - 1}"
            return result(ChainBreak(expected, "deleted", f"{gap} missing (gap in the chain)"))
        if chain_hash(partition, row.seq, row.prev_hash, row.canonical) != row.hash:
            moved_from = _hashed_at(partition, row)
            if moved_from is not None:
                detail = f"the row hashed for seq {moved_from} is stored at seq {row.seq}"
                return result(ChainBreak(row.seq, "reordered", detail))
            detail = "stored hash does not match the row (content, seq or link changed)"
            return result(ChainBreak(row.seq, "modified", detail))
        if row.kafka_offset <= prev_offset:
            detail = f"Kafka offset {row.kafka_offset} is not after {prev_offset}: rows moved"
            return result(ChainBreak(row.seq, "reordered", detail))
        problem = _column_problem(row)
        if problem is not None:
            return result(ChainBreak(row.seq, "modified", problem))
        if prev is not None and row.prev_hash != prev:
            if checked == 0 and start.anchor:
                detail = "first retained row does not link to the retention anchor"
                return result(ChainBreak(row.seq, "deleted", detail))
            detail = f"seq {row.seq} no longer links to it: it was rewritten and rehashed"
            return result(ChainBreak(row.seq - 1, "modified", detail))
        if first is None:
            first = row.seq
        checked += 1
        expected, prev, prev_offset, last_hash = row.seq + 1, row.hash, row.kafka_offset, row.hash
    if end_seq is not None and expected - 1 < end_seq:
        missing = f"seq {expected}..{end_seq}" if end_seq > expected else f"seq {end_seq}"
        return result(ChainBreak(expected, "deleted", f"{missing} missing (the chain ends early)"))
    if end_hash is not None and prev is not None and prev != end_hash:
        if checked:
            detail = "last row's hash is not the chain head's: it was rewritten and rehashed"
            return result(ChainBreak(expected - 1, "modified", detail))
        detail = "the retention anchor does not match the chain head"
        return result(ChainBreak(start.seq, "modified", detail))
    return result(None)

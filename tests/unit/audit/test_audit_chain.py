"""The audit hash chain: canonical text, row hashes, and what verification catches."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest

from shared.audit.chain import (
    GENESIS,
    HASH_DOMAIN,
    ChainStart,
    StoredRow,
    Verification,
    canonical_json,
    chain_hash,
    extend_chain,
    hash_input,
    indexed_columns,
    verify_chain,
)
from shared.audit.events import AuditEvent

PARTITION = 2


def _document(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": f"ev-{i}",
        "kind": "verdict",
        "source": "response",
        "tenant_id": "t1",
        "request_id": f"req-{i}",
        "action": "refuse" if i % 2 else "allow",
        "profile": "public_assistant",
        "decided_at": f"2025-01-02T03:04:{i % 60:02d}Z",
        "scores": {"violence": 0.25 + i / 1000},
        **extra,
    }


def _rows(n: int, *, first_seq: int = 1, prev: bytes = GENESIS) -> list[StoredRow]:
    canonicals = [canonical_json(_document(i)) for i in range(first_seq, first_seq + n)]
    links = extend_chain(PARTITION, first_seq - 1, prev, canonicals)
    return [
        _row(link.seq, 10 * link.seq, link.prev_hash, link.hash, canonical)
        for link, canonical in zip(links, canonicals, strict=True)
    ]


def _row(seq: int, offset: int, prev_hash: bytes, digest: bytes, canonical: str) -> StoredRow:
    document = json.loads(canonical)
    return StoredRow(
        seq=seq,
        kafka_offset=offset,
        prev_hash=prev_hash,
        hash=digest,
        canonical=canonical,
        event=document,
        columns=indexed_columns(AuditEvent.model_validate(document)),
    )


def _verify(
    rows: list[StoredRow], *, end_seq: int | None = None, end_hash: bytes | None = None
) -> Verification:
    return verify_chain(
        PARTITION,
        rows,
        start=ChainStart(1, GENESIS, anchor=True),
        end_seq=end_seq,
        end_hash=end_hash,
    )


def test_canonical_json_is_sorted_compact_utf8_and_refuses_nan() -> None:
    assert (
        canonical_json({"b": 1, "a": {"d": [1, 2.5], "c": "é"}})
        == '{"a":{"c":"é","d":[1,2.5]},"b":1}'
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_the_hash_covers_partition_seq_link_and_text_in_fixed_widths() -> None:
    raw = hash_input(1, 2, GENESIS, "{}")
    assert (
        raw
        == HASH_DOMAIN
        + (1).to_bytes(4, "big")
        + (2).to_bytes(8, "big")
        + GENESIS
        + (2).to_bytes(8, "big")
        + b"{}"
    )
    digest = chain_hash(1, 2, GENESIS, "{}")
    assert digest == hashlib.sha256(raw).digest()
    others = {
        chain_hash(0, 2, GENESIS, "{}"),
        chain_hash(1, 3, GENESIS, "{}"),
        chain_hash(1, 2, b"\x01" * 32, "{}"),
        chain_hash(1, 2, GENESIS, '{"a":1}'),
    }
    assert digest not in others and len(others) == 4


def test_extend_chain_links_each_row_to_the_one_before() -> None:
    links = extend_chain(PARTITION, 4, b"\x07" * 32, ["{}", "[]", "1"])
    assert [link.seq for link in links] == [5, 6, 7]
    assert links[0].prev_hash == b"\x07" * 32
    assert [links[1].prev_hash, links[2].prev_hash] == [links[0].hash, links[1].hash]


def test_an_intact_chain_verifies_to_its_head() -> None:
    rows = _rows(5)
    result = _verify(rows, end_seq=5, end_hash=rows[-1].hash)
    assert result.intact
    assert (result.checked, result.first_seq, result.last_seq) == (5, 1, 5)
    assert result.last_hash == rows[-1].hash and result.last_offset == 50


def test_an_empty_chain_is_intact_when_its_head_is_genesis() -> None:
    assert _verify([], end_seq=0, end_hash=GENESIS).intact


def test_a_modified_row_is_reported_at_that_row() -> None:
    rows = _rows(5)
    tampered = rows[2].canonical.replace('"refuse"', '"allow"')
    rows[2] = dataclasses.replace(rows[2], canonical=tampered, event=json.loads(tampered))
    broken = _verify(rows, end_seq=5, end_hash=rows[-1].hash).broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "modified")


def test_a_row_rewritten_and_rehashed_is_caught_by_the_next_link() -> None:
    rows = _rows(5)
    text = canonical_json(_document(3, action="allow", note="edited"))
    rows[2] = _row(
        3, 30, rows[2].prev_hash, chain_hash(PARTITION, 3, rows[2].prev_hash, text), text
    )
    broken = _verify(rows, end_seq=5, end_hash=rows[-1].hash).broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "modified")
    assert "rehashed" in broken.detail


def test_a_rehashed_last_row_no_longer_matches_the_chain_head() -> None:
    rows = _rows(3)
    head = rows[-1].hash
    text = canonical_json(_document(3, action="allow"))
    rows[2] = _row(
        3, 30, rows[2].prev_hash, chain_hash(PARTITION, 3, rows[2].prev_hash, text), text
    )
    broken = _verify(rows, end_seq=3, end_hash=head).broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "modified")


def test_the_stored_jsonb_and_indexed_columns_must_match_the_hashed_text() -> None:
    rows = _rows(3)
    served = dict(rows[1].event, action="escalate")
    broken = _verify([rows[0], dataclasses.replace(rows[1], event=served), rows[2]]).broken
    assert broken is not None and (broken.seq, broken.reason) == (2, "modified")
    assert "event column" in broken.detail
    hidden = dict(rows[1].columns, tenant_id="someone-else")
    broken = _verify([rows[0], dataclasses.replace(rows[1], columns=hidden), rows[2]]).broken
    assert broken is not None and "tenant_id" in broken.detail


def test_a_deleted_row_is_a_gap() -> None:
    rows = _rows(5)
    broken = _verify(rows[:2] + rows[3:], end_seq=5, end_hash=rows[-1].hash).broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "deleted")


def test_deleted_rows_at_the_end_are_caught_against_the_head() -> None:
    rows = _rows(5)
    broken = _verify(rows[:3], end_seq=5, end_hash=rows[-1].hash).broken
    assert broken is not None and (broken.seq, broken.reason) == (4, "deleted")


def test_swapped_rows_are_reordered() -> None:
    rows = _rows(4)
    a, b = rows[1], rows[2]
    swapped = [
        rows[0],
        dataclasses.replace(b, seq=2),
        dataclasses.replace(a, seq=3),
        rows[3],
    ]
    broken = _verify(swapped, end_seq=4, end_hash=rows[-1].hash).broken
    assert broken is not None and (broken.seq, broken.reason) == (2, "reordered")
    assert "seq 3" in broken.detail


def test_rows_renumbered_in_kafka_order_but_out_of_offset_order_are_reordered() -> None:
    rows = _rows(3)
    late = dataclasses.replace(rows[1], kafka_offset=5)  # below seq 1's offset 10
    canonical, prev = late.canonical, late.prev_hash
    late = dataclasses.replace(late, hash=chain_hash(PARTITION, 2, prev, canonical))
    broken = _verify([rows[0], late, rows[2]]).broken
    assert broken is not None and (broken.seq, broken.reason) == (2, "reordered")


def test_verification_starts_at_the_retention_anchor() -> None:
    rows = _rows(6)
    kept = rows[3:]  # retention removed seq 1..3; the head remembers what seq 4 links to
    anchor = ChainStart(4, rows[2].hash, anchor=True)
    assert verify_chain(PARTITION, kept, start=anchor, end_seq=6, end_hash=rows[-1].hash).intact
    # Rows deleted past the anchor by hand: the first one left no longer links to it.
    broken = verify_chain(
        PARTITION, kept[1:], start=ChainStart(5, rows[2].hash, anchor=True), end_seq=6
    ).broken
    assert broken is not None and (broken.seq, broken.reason) == (5, "deleted")


def test_a_chain_emptied_by_retention_is_intact_when_its_anchor_is_the_head() -> None:
    rows = _rows(2)
    start = ChainStart(3, rows[-1].hash, anchor=True)
    assert verify_chain(PARTITION, [], start=start, end_seq=2, end_hash=rows[-1].hash).intact
    broken = verify_chain(PARTITION, [], start=start, end_seq=2, end_hash=GENESIS).broken
    assert broken is not None and broken.reason == "modified"

"""The benchmark's message mix: sizes, kinds, unique texts, warm re-sends (pure)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from shared.bench.mix import KINDS, make_mix, resend
from shared.schemas import encode

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_mix_has_every_kind_roughly_in_proportion_and_is_deterministic() -> None:
    items = make_mix(2000, run_id="r1", now=NOW, seed=3)
    kinds = Counter(item.kind for item in items)
    assert set(kinds) == set(KINDS)
    assert 0.45 < kinds["benign"] / len(items) < 0.65
    again = make_mix(2000, run_id="r1", now=NOW, seed=3)
    assert [i.request for i in again] == [i.request for i in items]


def test_every_text_and_request_id_is_unique_so_the_cache_starts_cold() -> None:
    items = make_mix(500, run_id="r2", now=NOW)
    assert len({i.request.text for i in items}) == 500
    assert len({i.request.request_id for i in items}) == 500
    other = make_mix(500, run_id="r3", now=NOW)
    assert not {i.request.text for i in items} & {i.request.text for i in other}


def test_requests_are_valid_wire_messages_within_limits() -> None:
    for item in make_mix(50, run_id="r4", now=NOW, prefix="p" * 40):
        assert len(item.request.request_id) <= 128
        assert encode(item.request)


def test_resend_keeps_texts_and_changes_ids() -> None:
    items = make_mix(20, run_id="r5", now=NOW)
    warm = resend(items, prefix="warm", now=NOW)
    assert [w.request.text for w in warm] == [i.request.text for i in items]
    assert not {w.request.request_id for w in warm} & {i.request.request_id for i in items}
    assert [w.kind for w in warm] == [i.kind for i in items]


def test_weights_choose_kinds_and_unknown_kinds_are_rejected() -> None:
    only_pii = make_mix(30, run_id="r6", now=NOW, weights={"pii": 1.0})
    assert {i.kind for i in only_pii} == {"pii"}
    with pytest.raises(ValueError):
        make_mix(3, run_id="r7", now=NOW, weights={"nope": 1.0})
    with pytest.raises(ValueError):
        make_mix(3, run_id="r7", now=NOW, weights={"pii": 0.0})

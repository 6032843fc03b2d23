"""``shared.bench.commits``: the ratios it prints are medians of the matching rows."""

from __future__ import annotations

from typing import Any

import pytest

from shared.bench.commits import _ratios


def _row(pipelined: bool, backoff: int, rate: float) -> dict[str, Any]:
    return {"pipelined": pipelined, "retry_backoff_ms": backoff, "msgs_per_s": rate}


def test_ratios_compare_modes_at_the_last_backoff_and_each_backoff_per_mode() -> None:
    rows = [
        _row(False, 100, 900.0),
        _row(True, 100, 800.0),
        _row(False, 10, 1000.0),
        _row(True, 10, 1300.0),
        _row(False, 100, 1100.0),
        _row(True, 100, 1200.0),
        _row(False, 10, 1000.0),
        _row(True, 10, 1300.0),
    ]
    assert _ratios(rows, [100, 10]) == {
        "pipelined_over_inline": 1.3,
        "inline_backoff_10_over_100": pytest.approx(1.0),
        "pipelined_backoff_10_over_100": pytest.approx(1.3),
    }


def test_one_backoff_gives_the_mode_ratio_only() -> None:
    rows = [_row(False, 10, 1000.0), _row(True, 10, 1250.0)]
    assert _ratios(rows, [10]) == {"pipelined_over_inline": 1.25}

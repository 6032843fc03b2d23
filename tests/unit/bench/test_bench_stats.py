"""Percentiles, rates and ratios of the benchmark (pure)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.bench.stats import percentile, ratio, summarize, sustained_rate


def test_percentile_interpolates_like_numpy_linear() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 90) == pytest.approx(4.6)


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.floats(0, 100),
)
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-6)


def test_percentile_of_nothing_is_nan_and_bad_q_is_rejected() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarize_reports_count_and_ordered_percentiles() -> None:
    summary = summarize([float(i) for i in range(1, 101)])
    assert summary.count == 100
    assert summary.p50_ms <= summary.p90_ms <= summary.p99_ms <= summary.max_ms == 100.0
    assert math.isnan(summarize([]).p99_ms)


def test_sustained_rate_counts_intervals_between_first_and_last_arrival() -> None:
    # 11 arrivals, one every 0.1 s: 10 intervals in 1 s -> 10 msgs/s.
    assert sustained_rate([i / 10 for i in range(11)]) == pytest.approx(10.0)
    assert sustained_rate([3.0, 1.0, 2.0]) == pytest.approx(1.0)  # order does not matter
    assert sustained_rate([1.0]) == 0.0
    assert sustained_rate([2.0, 2.0]) == 0.0


def test_ratio_is_none_when_undefined() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(math.nan, 1.0) is None

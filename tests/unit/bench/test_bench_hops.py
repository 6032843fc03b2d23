"""The per-hop latency breakdown of ``shared.bench.hops`` (pure arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import cast

import pytest

from shared.bench.hops import HopRecord, breakdown
from shared.bench.phases import Collected, verdict_phase
from shared.schemas import Verdict


def test_breakdown_splits_end_to_end_into_hops() -> None:
    record = HopRecord(
        submitted=100.000,
        handler_ms={"cache": 1.0, "detection": 4.0, "policy": 1.0, "response": 2.0},
        produced={"detections": 100.010, "decisions": 100.030, "verdicts": 100.060},
        visible={"detections": 100.020, "decisions": 100.045, "verdicts": 100.075},
    )
    rows = breakdown([record])
    expected = {
        "detect.wait": 5.0,
        "detect.handler": 5.0,
        "detect.commit": 10.0,
        "policy.wait": 9.0,
        "policy.handler": 1.0,
        "policy.commit": 15.0,
        "response.wait": 13.0,
        "response.handler": 2.0,
        "response.commit": 15.0,
        "decided (timings.total)": 60.0,
        "end_to_end": 75.0,
    }
    for hop, ms in expected.items():
        assert rows[hop]["p50"] == pytest.approx(ms, abs=0.1), hop
    waits = [v["p50"] for k, v in rows.items() if k.split(".")[-1] in {"wait", "handler", "commit"}]
    assert sum(waits) == pytest.approx(rows["end_to_end"]["p50"], abs=0.5)


def test_requests_not_seen_on_every_topic_are_left_out() -> None:
    partial = HopRecord(submitted=1.0, produced={"detections": 1.1}, visible={"detections": 1.2})
    assert breakdown([partial]) == {}


def test_the_open_loop_phase_reports_what_a_reader_sees() -> None:
    decided = datetime(2026, 1, 1, tzinfo=UTC)
    verdict = cast(
        Verdict,
        SimpleNamespace(
            request_id="r1", decided_at=decided, timings_ms={"total": 40.0}, cache_hit=False
        ),
    )
    arrived = (decided + timedelta(milliseconds=15)).timestamp()
    phase = verdict_phase(
        "half_load", Collected(verdicts={"r1": verdict}, arrived={"r1": arrived}), sent=1
    )
    assert phase.latency is not None
    assert phase.latency.p99_ms == 40.0
    assert phase.notes["visible_p99_ms"] == pytest.approx(55.0, abs=0.01)
    unstamped = verdict_phase("closed_loop", Collected(verdicts={"r1": verdict}), sent=1)
    assert "visible_p99_ms" not in unstamped.notes

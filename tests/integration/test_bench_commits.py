"""``shared.bench.commits`` on the real broker: both commit modes deliver every record once."""

from __future__ import annotations

import pytest

from shared.bench.commits import run_once
from shared.stack import Endpoints


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "inline"])
def test_both_commit_modes_deliver_each_record_once(
    stack_endpoints: Endpoints, pipelined: bool
) -> None:
    row = run_once(
        stack_endpoints.kafka_bootstrap, pipelined=pipelined, records=300, batch=16, handler_ms=1
    )
    assert row["pipelined"] is pipelined
    assert row["delivered"] == 300
    assert row["duplicates"] == 0
    assert row["msgs_per_s"] > 0

"""Redis goes away mid-run and comes back: no request fails, verdicts continue uncached,
the cache resumes. Real Kafka, real workers, a real (private) redis-server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from shared.schemas import ModerationRequest, Verdict
from shared.stack.models import Endpoints
from shared.stack.process import LOOPBACK, free_port
from tests.support.pipeline import RunningPipeline, make_requests, running_pipeline
from tests.support.redis_server import private_redis

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _again(requests: list[ModerationRequest], prefix: str) -> list[ModerationRequest]:
    """The same texts under new request ids (what a cache should answer)."""
    return [r.model_copy(update={"request_id": f"{prefix}-{r.request_id}"}) for r in requests]


def _round(pipeline: RunningPipeline, requests: list[ModerationRequest]) -> list[Verdict]:
    for request in requests:
        pipeline.producer.send(request)
    pipeline.producer.flush()
    wanted = {r.request_id for r in requests}
    verdicts = [v for v in pipeline.collect(wanted, settle_s=1.0) if v.request_id in wanted]
    counts = Counter(v.request_id for v in verdicts)
    assert set(counts) == wanted, f"{len(wanted - set(counts))} requests got no verdict"
    assert max(counts.values()) == 1
    return verdicts


def test_a_redis_outage_fails_no_request_and_the_cache_comes_back(
    stack_endpoints: Endpoints, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "CLEARPATH_REDIS__URL": f"redis://{LOOPBACK}:{port}/0",
        "CLEARPATH_CACHE__TIMEOUT_MS": "50",
        "CLEARPATH_CACHE__BREAKER_RESET_S": "1",
    }
    with (
        private_redis(port, tmp_path / "redis-1") as server,
        running_pipeline(stack_endpoints, tmp_path, extra_env=env) as pipeline,
    ):
        warm = make_requests(60, prefix="warm")
        assert not any(v.cache_hit for v in _round(pipeline, warm))
        second = _round(pipeline, _again(warm, "hit"))
        assert all(v.cache_hit for v in second), Counter((v.cache_hit, v.action) for v in second)

        server.terminate()  # Redis goes away mid-run
        server.wait(timeout=10)
        during = make_requests(60, prefix="down")
        verdicts = _round(pipeline, during) + _round(pipeline, _again(warm, "down"))
        assert not any(v.cache_hit for v in verdicts)  # served uncached, none failed

        with private_redis(port, tmp_path / "redis-2"):  # back, empty
            after = make_requests(60, prefix="after")
            _round(pipeline, after)  # the breaker's trial succeeds; verdicts are cached again
            assert all(v.cache_hit for v in _round(pipeline, _again(after, "again")))

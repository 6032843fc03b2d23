"""Every PromQL expression of the dashboard and the rules, against a real Prometheus
scraping the real workers of a pipeline that just handled allowed, refused, redacted and
dead-lettered traffic, and the HTTP gateway that just answered checks and appeals (one
overturned by added context, one upheld, one queued and overturned by a reviewer). How an
expression without data is judged: tests/support/promql.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.clock import utcnow
from shared.launch import WorkerProcess
from shared.schemas import ModerationRequest
from shared.stack import Endpoints
from shared.stack.kafka import default_deploy_dir
from shared.stack.process import free_port, stop_pid, wait_until
from shared.stack.prometheus import PrometheusNode, prometheus_ready
from tests.support import promql
from tests.support.gateway import BORDERLINE_TEXT, HttpClient, create_key, running_gateway
from tests.support.pipeline import make_requests, running_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DEPLOY = default_deploy_dir()
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "pipeline-overview.json"
RULES = DEPLOY / "prometheus" / "rules" / "clearpath.rules.yml"
#: Exported by every worker but observed only when their feature acts: the verdict cache
#: (not wired into the workers yet, or off), detector timing (not observed by the
#: detection handler yet) and intent that changed an outcome. Each must still be a metric
#: family Prometheus scraped (its metadata), so a typo or a removed metric still fails.
UNOBSERVED_OK = {
    "clearpath_cache_lookups_total": "verdict cache off in this run",
    "clearpath_cache_errors_total": "verdict cache off in this run",
    "clearpath_intent_applied_total": "no request here declares intent that changes an action",
}


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[str]:
    """A private Prometheus (1 s scrapes and rule evaluation) reading the pipeline's targets."""
    node = PrometheusNode(state_dir=tmp_path / "state", deploy_dir=DEPLOY, scrape_interval_s=1.0)
    port = free_port()
    pid = node.start(port=port, progress=lambda _: None)
    url = PrometheusNode.url(port)
    try:
        assert wait_until(lambda: prometheus_ready(url), timeout_s=60), node.log_tail()
        yield url
    finally:
        stop_pid(pid, marker=node.marker, grace_s=15)


def _requests() -> list[ModerationRequest]:
    now = utcnow()
    special = [
        ("obs-refuse", "acme", "Join the free crypto giveaway now"),
        ("obs-redact", "e2e", "My card is 4111 1111 1111 1111, charge it"),
    ]
    return make_requests(12, prefix="obs") + [
        ModerationRequest(request_id=rid, tenant_id=tenant, text=text, submitted_at=now)
        for rid, tenant, text in special
    ]


def _appeal_traffic(gateway: WorkerProcess, postgres_url: str, run: str, prometheus: str) -> None:
    """Through the gateway (real classifier): a borderline refusal appealed three ways.

    First, Prometheus must have scraped the gateway's appeal counters at 0 (file discovery
    refreshes every 5 s): a counter first seen at 1 shows no increase to ``rate()``.
    """
    assert wait_until(
        lambda: _has_data(prometheus, f'clearpath_appeals_total{{instance="{gateway.target}"}}'),
        timeout_s=60,
        interval_s=0.5,
    ), "Prometheus never scraped the gateway"
    http = HttpClient(gateway.metrics_url)
    tenant = f"obs-{run}"
    client = create_key(postgres_url, tenant)
    reviewer = create_key(postgres_url, tenant, "reviewer")
    contexts: list[dict[str, str]] = [
        {"purpose": "research", "statement": "I study darknet markets."},  # overturned
        {},  # upheld: nothing added
        {"statement": "It is for my novel."},  # queued, then a reviewer decides
    ]
    outcomes = []
    for context in contexts:
        status, verdict, _ = http.call("POST", "/v1/check", client, {"text": BORDERLINE_TEXT})
        assert status == 200 and verdict["action"] == "refuse", verdict
        appeal = {
            "request_id": verdict["request_id"],
            "token": verdict["receipt"]["appeal"]["token"],
            "text": BORDERLINE_TEXT,
            **context,
        }
        status, filed, _ = http.call("POST", "/v1/appeals", client, appeal)
        assert status == 201, filed
        outcomes.append(filed)
    assert [a["outcome"] for a in outcomes] == ["overturned", "upheld", "queued"]
    decision = {"decision": "overturn", "note": "Fiction."}
    path = f"/v1/review/appeals/{outcomes[2]['appeal_id']}/decision"
    assert http.call("POST", path, reviewer, decision)[0] == 200


def _has_data(url: str, expr: str) -> bool:
    return bool(promql.query(url, expr))


def _family(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        name = name.removesuffix(suffix)
    return name


def test_every_dashboard_and_rule_expression_has_data(
    stack_endpoints: Endpoints, tmp_path: Path, prometheus: str
) -> None:
    postgres_url = stack_endpoints.postgres_url
    assert postgres_url is not None
    with (
        running_pipeline(stack_endpoints, tmp_path) as pipeline,
        running_gateway(pipeline, postgres_url, classifier="auto") as gateway,
    ):
        requests = _requests()
        for request in requests:
            pipeline.producer.send(request)
        pipeline.producer.send_raw(b"{bad json", key=b"poison")
        pipeline.producer.flush()
        verdicts = {
            v.request_id: v
            for v in pipeline.collect({r.request_id for r in requests}, settle_s=0.5)
        }
        assert verdicts["obs-refuse"].action == "refuse"
        assert verdicts["obs-redact"].action == "redact"
        assert pipeline.dead_letters(count=1)
        run = pipeline.topics.requests.rsplit(".", 1)[-1]
        _appeal_traffic(gateway, postgres_url, run, prometheus)

        # Bounded wait: scrapes (1 s), the lag report (5 s) and rule evaluation caught up.
        ready = [
            f"sum(clearpath_verdicts_total) >= {len(requests)}",
            'clearpath_verdicts_total{action="refuse"}',
            "clearpath_dead_letters_total",
            "clearpath_consumer_lag_messages",
            "deriv(group:clearpath_consumer_lag_messages:sum[10m])",
            "profile:clearpath_refusals:ratio_rate10m",
            'clearpath_appeals_total{outcome="overturned"}',
            "clearpath_appeal_reviews_total",
            "profile:clearpath_appeal_overturns:ratio_rate1h",
        ]
        assert wait_until(
            lambda: all(_has_data(prometheus, q) for q in ready), timeout_s=60, interval_s=1
        ), [q for q in ready if not _has_data(prometheus, q)]

        checked: list[tuple[str, str]] = []
        for title, expr in promql.dashboard_exprs(DASHBOARD):
            checked.append((f"panel {title!r}", promql.for_query(expr)))
        for kind, name, expr in promql.rule_exprs(RULES):
            if kind == "record":
                checked.append((f"record {name}", expr))
            else:
                checked += [(f"alert {name} signal", s) for s in promql.signals(expr)]

        def failing() -> list[str]:
            metadata = promql.metadata_names(prometheus)
            out: list[str] = []
            for where, expr in checked:
                if _has_data(prometheus, expr):
                    continue
                names = promql.metric_names(expr)
                unobserved = {n for n in names if not _has_data(prometheus, n)}
                excused = all(
                    n in UNOBSERVED_OK
                    and _family(n) in metadata | {n}
                    and (_family(n) in metadata or n in metadata)
                    for n in unobserved
                )
                if not unobserved or not excused:
                    out.append(f"{where}: {expr} (no data; unobserved: {sorted(unobserved)})")
            return out

        # Recording rules need two evaluations of fresh samples: on a loaded machine that can
        # lag the scrape, so poll (bounded) until every expression has data, then judge.
        wait_until(lambda: not failing(), timeout_s=45, interval_s=2)
        failures = failing()
        assert not failures, "\n".join(failures)
        assert len(checked) > 30

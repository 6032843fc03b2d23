"""The gateway's metrics: the worker series it shares, HTTP, and appeals — one registry.

Verdicts answered synchronously count in ``clearpath_verdicts_total`` (and the latency and
cache series) exactly like the pipeline's, so dashboards and alerts see both paths. HTTP
series are labelled by route template (never a path with ids in it), method and status.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from shared.appeals.metrics import AppealMetrics
from shared.metrics import WorkerMetrics

__all__ = ["GatewayMetrics"]

_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class GatewayMetrics:
    worker: WorkerMetrics
    appeals: AppealMetrics
    http_requests: Counter
    http_seconds: Histogram
    events_lost: Counter

    @classmethod
    def create(cls) -> GatewayMetrics:
        worker = WorkerMetrics.create(stage="gateway")
        registry = worker.registry
        return cls(
            worker=worker,
            appeals=AppealMetrics.create(registry),
            http_requests=Counter(
                "clearpath_http_requests_total",
                "HTTP requests answered, by route template, method and status code.",
                ["route", "method", "status"],
                registry=registry,
            ),
            http_seconds=Histogram(
                "clearpath_http_request_duration_seconds",
                "Time to answer an HTTP request, by route template.",
                ["route"],
                buckets=_HTTP_BUCKETS,
                registry=registry,
            ),
            events_lost=Counter(
                "clearpath_gateway_events_lost_total",
                "Audit events of synchronous verdicts that Kafka did not acknowledge.",
                registry=registry,
            ),
        )

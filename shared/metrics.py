"""Prometheus metrics of one worker process: one registry, declared in one place.

Naming follows Prometheus conventions (base units, ``_total``, ``_seconds``); labels
are bounded (stage, action, category, profile, error type) — never text, users or ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from shared.schemas import DecisionMessage, Verdict

__all__ = ["WorkerMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass(frozen=True)
class WorkerMetrics:
    """The series every worker exports; build with :meth:`create` (a fresh registry)."""

    registry: CollectorRegistry
    messages: Counter
    batch_size: Histogram
    stage_seconds: Histogram
    end_to_end_seconds: Histogram
    verdicts: Counter
    intent_applied: Counter
    dead_letters: Counter
    build: Info
    up: Gauge
    cache_lookups: Counter
    cache_errors: Counter
    inference_seconds: Histogram
    consumer_lag: Gauge
    kafka_rtt_seconds: Gauge
    kafka_queued_messages: Gauge

    @classmethod
    def create(cls, *, stage: str) -> WorkerMetrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            messages=Counter(
                "clearpath_messages_total", "Records consumed.", ["stage"], registry=registry
            ),
            batch_size=Histogram(
                "clearpath_batch_size",
                "Records per processed batch.",
                ["stage"],
                buckets=_BATCH_BUCKETS,
                registry=registry,
            ),
            stage_seconds=Histogram(
                "clearpath_stage_duration_seconds",
                "Time a stage spends on one batch.",
                ["stage"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            end_to_end_seconds=Histogram(
                "clearpath_end_to_end_latency_seconds",
                "From submitted_at to the verdict being published.",
                ["profile"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            verdicts=Counter(
                "clearpath_verdicts_total",
                "Verdicts by action, primary category and profile.",
                ["action", "category", "profile"],
                registry=registry,
            ),
            intent_applied=Counter(
                "clearpath_intent_applied_total",
                "Decisions that declared intent changed.",
                ["category", "profile"],
                registry=registry,
            ),
            dead_letters=Counter(
                "clearpath_dead_letters_total",
                "Messages sent to the dead-letter topic.",
                ["stage", "reason"],
                registry=registry,
            ),
            build=Info("clearpath_build", "Build, model and policy versions.", registry=registry),
            up=Gauge(
                "clearpath_worker_ready",
                "1 when the worker consumes.",
                ["stage"],
                registry=registry,
            ),
            # hit, miss, bypass (tenant opted out, or the breaker is open)
            cache_lookups=Counter(
                "clearpath_cache_lookups_total",
                "Verdict cache look-ups by result.",
                ["result"],
                registry=registry,
            ),
            cache_errors=Counter(
                "clearpath_cache_errors_total",
                "Verdict cache operations that failed.",
                ["operation"],
                registry=registry,
            ),
            inference_seconds=Histogram(
                "clearpath_inference_duration_seconds",
                "Detector time per batch.",
                ["detector"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            kafka_rtt_seconds=Gauge(
                "clearpath_kafka_rtt_seconds",
                "Mean broker round-trip time seen by the client (librdkafka statistics).",
                ["client"],
                registry=registry,
            ),
            kafka_queued_messages=Gauge(
                "clearpath_kafka_queued_messages",
                "Messages waiting in the client's queues (librdkafka statistics).",
                ["client"],
                registry=registry,
            ),
            consumer_lag=Gauge(
                "clearpath_consumer_lag_messages",
                "Records behind the log end, per partition.",
                ["group", "partition"],
                registry=registry,
            ),
        )

    def observe_verdict(self, verdict: Verdict, message: DecisionMessage) -> None:
        """Count a published verdict: action by primary category and profile, end-to-end latency."""
        self.observe_cached_verdict(verdict, category=message.decision.primary_category)

    def observe_cached_verdict(self, verdict: Verdict, *, category: str | None) -> None:
        """Count a verdict published without a decision message (a cache hit): ``category`` is
        the primary category it was decided for."""
        self.observe_cache_hit(
            action=verdict.action,
            profile=verdict.profile,
            category=category,
            intent_applied=verdict.intent_applied,
            total_ms=verdict.timings_ms.get("total"),
        )

    def observe_cache_hit(
        self,
        *,
        action: str,
        profile: str,
        category: str | None,
        intent_applied: bool,
        total_ms: float | None,
    ) -> None:
        """:meth:`observe_cached_verdict` from a rendered verdict's fields."""
        category = category or "none"
        self.verdicts.labels(action, category, profile).inc()
        if intent_applied:
            self.intent_applied.labels(category, profile).inc()
        if total_ms is not None:
            self.end_to_end_seconds.labels(profile).observe(total_ms / 1000)

    def observe_kafka_stats(self, client: str, stats: dict[str, Any]) -> None:
        """Broker-level series from librdkafka's statistics: round trip and queue depth."""
        brokers = [
            b
            for b in (stats.get("brokers") or {}).values()
            if isinstance(b, dict) and b.get("nodeid", -1) >= 0
        ]
        rtts = [
            b["rtt"]["avg"]
            for b in brokers
            if isinstance(b.get("rtt"), dict) and b["rtt"].get("avg")
        ]
        if rtts:
            self.kafka_rtt_seconds.labels(client).set(sum(rtts) / len(rtts) / 1e6)
        self.kafka_queued_messages.labels(client).set(float(stats.get("msg_cnt", 0)))

"""The demo: stack up, the workers and the audit sink up, the sample stream through Kafka, a
summary (the audit trail verified too), clean-up."""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.demo.appeals import AppealDemo, appeal_round_trip
from services.demo.audit_summary import print_audit_summary
from services.demo.prom_summary import print_prometheus_summary
from services.demo.samples import SAMPLES, Sample
from shared.broker import client_config
from shared.client import RequestProducer, VerdictReader
from shared.clock import utcnow
from shared.launch import (
    WorkerProcess,
    register_targets,
    start_worker,
    stop_workers,
    unregister_targets,
    wait_ready,
)
from shared.schemas import Intent, ModerationRequest, Verdict
from shared.settings import Settings
from shared.stack import LocalStack
from shared.topics import TopicSet

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    sent: int
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    metrics_urls: dict[str, str] = field(default_factory=dict)
    #: per round: (end-to-end latencies in ms, cache hits)
    rounds: list[tuple[list[float], int]] = field(default_factory=list)
    #: the appeal round trip through the gateway (None when it could not run)
    appeals: AppealDemo | None = None


def _round(round_: int) -> list[tuple[Sample, ModerationRequest]]:
    """One pass over the samples; a conversation groups a few consecutive messages."""
    conversations = [f"demo-conv-{uuid.uuid4().hex[:8]}" for _ in range(len(SAMPLES) // 5 + 1)]
    return [
        (
            sample,
            ModerationRequest(
                request_id=f"demo-{round_}-{uuid.uuid4().hex[:12]}",
                tenant_id=sample.tenant_id,
                text=sample.text,
                profile=sample.profile,
                intent=Intent.model_validate(sample.intent) if sample.intent else None,
                conversation_id=conversations[i // 5],
                submitted_at=utcnow(),
            ),
        )
        for i, sample in enumerate(SAMPLES)
    ]


def run_demo(
    settings: Settings,
    console: Console,
    *,
    repeat: int = 3,
    keep: bool = False,
    timeout_s: float = 180,
) -> DemoResult:
    """Run the whole demo; stop only what it started (unless ``keep``)."""
    stack = LocalStack(settings, progress=lambda line: console.print(f"[dim]{line}[/]"))
    # Only what the demo starts is stopped after it: a service already running (someone's
    # stack, a test stack) is left alone even when another one of the stack was down.
    before = stack.status()
    started = [s.name for s in before.services if s.managed and not s.running]
    console.rule("Clearpath demo")
    console.print("starting the local stack (Kafka, Redis, Prometheus)…")
    endpoints = stack.up()
    console.print(
        f"kafka {endpoints.kafka_bootstrap} · redis {endpoints.redis_url}"
        f" · prometheus {endpoints.prometheus_url}"
    )
    workers: list[WorkerProcess] = []
    try:
        env = {
            "CLEARPATH_KAFKA__BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
            "CLEARPATH_REDIS__URL": endpoints.redis_url,
            "CLEARPATH_STACK__STATE_DIR": str(stack.state_dir),
        }
        log_dir = Path(stack.state_dir) / "logs" / "demo"
        stages = ["detection", "policy", "response"]
        if endpoints.postgres_url:
            env["CLEARPATH_POSTGRES__URL"] = endpoints.postgres_url
            stages.append("audit")
        console.print(f"starting the {', '.join(stages)} workers…")
        workers = [start_worker(stage, env=env, log_dir=log_dir) for stage in stages]
        wait_ready(workers)
        register_targets(stack.state_dir, workers)  # Prometheus discovers them from the file
        result = _stream(settings, console, endpoints.kafka_bootstrap, workers, repeat, timeout_s)
        result.appeals = appeal_round_trip(
            settings, console, endpoints=endpoints, env=env, log_dir=log_dir
        )
        print_prometheus_summary(console, endpoints.prometheus_url, verdicts=len(result.verdicts))
        if endpoints.postgres_url:
            print_audit_summary(
                console,
                endpoints.postgres_url,
                topic=TopicSet.default().audit,
                request_ids=result.verdicts.keys(),
            )
        return result
    finally:
        console.print("stopping the workers…")
        unregister_targets(stack.state_dir, workers)
        stop_workers(workers)
        if not keep and started:
            console.print(f"stopping what the demo started ({', '.join(started)})…")
            stack.down(services=started)


def _stream(
    settings: Settings,
    console: Console,
    bootstrap: str,
    workers: list[WorkerProcess],
    repeat: int,
    timeout_s: float,
    rate: float = 50.0,
) -> DemoResult:
    topics = TopicSet.default()
    base = client_config(settings.kafka, bootstrap)
    reader = VerdictReader(base_config=base, topic=topics.verdicts)
    producer = RequestProducer(base_config=base, topic=topics.requests)
    total = repeat * len(SAMPLES)
    result = DemoResult(
        sent=total, metrics_urls={w.stage: f"{w.metrics_url}/metrics" for w in workers}
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            sent = progress.add_task("requests sent", total=total)
            answered = progress.add_task("verdicts received", total=total)
            for round_ in range(repeat):
                # Rounds go one after another, so later rounds find the first one's verdicts
                # in the cache; messages are paced, not dumped in one burst.
                batch = _round(round_)
                result.kinds.update({r.request_id: sample.kind for sample, r in batch})
                latencies: list[float] = []
                hits = 0
                for _, request in batch:
                    producer.send(request.model_copy(update={"submitted_at": utcnow()}))
                    progress.advance(sent)
                    time.sleep(1 / rate)
                producer.flush()
                pending = {r.request_id for _, r in batch}
                deadline = time.monotonic() + timeout_s
                while pending and time.monotonic() < deadline:
                    for verdict in reader.poll(0.2):
                        if verdict.request_id not in pending:
                            continue
                        pending.discard(verdict.request_id)
                        result.verdicts[verdict.request_id] = verdict
                        latencies.append(verdict.timings_ms.get("total", 0.0))
                        hits += verdict.cache_hit
                        progress.advance(answered)
                result.rounds.append((latencies, hits))
                result.latencies_ms.extend(latencies)
    finally:
        reader.close()
    _summarise(console, result)
    return result


def _summarise(console: Console, result: DemoResult) -> None:
    by_kind: dict[str, Counter[str]] = {}
    by_category: Counter[tuple[str, str, str]] = Counter()
    for request_id, verdict in result.verdicts.items():
        by_kind.setdefault(result.kinds[request_id], Counter())[verdict.action] += 1
        triggered = [c.id for c in verdict.categories if c.triggered] or ["—"]
        for category in triggered:
            by_category[(verdict.profile, category, verdict.action)] += 1
    table = Table("kind of message", "actions", title="What each kind of message got")
    for kind, actions in sorted(by_kind.items()):
        table.add_row(kind, ", ".join(f"{a} x{n}" for a, n in actions.most_common()))
    console.print(table)
    cats = Table("profile", "category", "action", "count", title="Actions by category and profile")
    for (profile, category, action), n in sorted(by_category.items()):
        cats.add_row(profile, category, action, str(n))
    console.print(cats)
    example = next(
        (v for v in result.verdicts.values() if v.action == "refuse" and v.receipt), None
    )
    if example is not None and example.receipt is not None:
        r = example.receipt
        console.print("[bold]A refusal receipt[/]")
        console.print(f"  reason: {r.reason}\n  policy: {r.policy_ref}")
        for alt in r.alternatives:
            console.print(f"  • {alt}")
        if r.rewrite:
            console.print(f"  try instead: {r.rewrite}")
        console.print(f"  appeal token: {r.appeal.token[:48]}…")
    for n, (latencies, hits) in enumerate(result.rounds, start=1):
        if latencies:
            ordered = sorted(latencies)
            console.print(
                f"round {n}: {len(latencies)} verdicts, {hits} from the cache · end-to-end "
                f"p50 {statistics.median(ordered):.1f} ms · p99 {_p99(ordered):.1f} ms"
            )
    lat = sorted(result.latencies_ms)
    if lat:
        p50 = statistics.median(lat)
        p99 = _p99(lat)
        console.print(
            f"{len(result.verdicts)}/{result.sent} verdicts · end-to-end latency "
            f"p50 {p50:.1f} ms · p99 {p99:.1f} ms"
        )
    if len(result.verdicts) < result.sent:
        console.print(f"[red]{result.sent - len(result.verdicts)} verdicts missing[/]")
    console.print("metrics while the workers ran:")
    for stage, url in result.metrics_urls.items():
        console.print(f"  {stage}: {url}")


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

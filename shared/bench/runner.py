"""One ``clearpath bench e2e`` run: stack, in-process baselines, workers, Kafka phases, clean-up.

Order: the broker's warm-up, then the bare model and the naive loop, in this process, while
no worker is running; then the three workers start on namespaced topics and the closed loop
(cold), the warm-cache pass and the open loop at half the measured rate run one after
another. Workers are stopped by pid and the bench's topics deleted afterwards; a stack this
run started is stopped too (unless ``keep``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from shared import kafka_admin
from shared.bench.mix import MixItem, make_mix, resend
from shared.bench.naive import run_naive
from shared.bench.phases import (
    collect,
    model_only,
    send_closed,
    send_open,
    verdict_phase,
    warm_broker,
)
from shared.bench.result import BenchResult, PhaseResult, machine_info
from shared.bootstrap import build_pipeline
from shared.broker import client_config
from shared.client import RequestProducer, VerdictReader
from shared.clock import utcnow
from shared.launch import TOPOLOGIES, start_worker, stop_workers, wait_ready
from shared.settings import Settings
from shared.stack import LocalStack
from shared.topics import TopicSet

__all__ = ["BenchOptions", "run_bench"]

#: The open loop's reader polls often, so its arrival stamps (visible latency) are close.
_OPEN_POLL_S = 0.02
#: What the benchmark needs of the local stack (Kafka and Redis); nothing else runs beside it.
BENCH_SERVICES = ("kafka", "redis")


def _letters(n: int) -> str:
    """``n`` written in letters (0 -> a, 25 -> z, 26 -> ba, ...): a tag with no digits."""
    out = chr(ord("a") + n % 26)
    while n >= 26:
        n //= 26
        out = chr(ord("a") + n % 26) + out
    return out


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What ``clearpath bench e2e`` was asked for."""

    messages: int = 3000
    rate: float | None = None  # open-loop rate; None: half the measured closed-loop rate
    classifier: Literal["auto", "none"] = "auto"
    duration_s: float = 20.0
    naive_messages: int = 1000
    timeout_s: float = 300.0
    keep_stack: bool = False
    seed: int = 0
    #: Transactions against the broker before the naive loop (a fresh broker is slow).
    warmup_s: float = 20.0
    #: Messages through the workers before the closed loop (not measured).
    warmup_messages: int = 1000
    #: ``split`` (detection, policy, response workers) or ``chained`` (one worker).
    topology: Literal["split", "chained"] = "split"
    #: Processes per worker of the topology (each a consumer-group member of its own).
    replicas: int = 1
    #: Extra open-loop points, as fractions of the closed-loop rate (latency against load).
    load_curve: tuple[float, ...] = ()
    #: Seconds per load-curve point (``duration_s`` when None).
    curve_duration_s: float | None = None


def run_bench(
    settings: Settings, options: BenchOptions, *, progress: Callable[[str], None] = print
) -> BenchResult:
    """Run every phase once and return the numbers; see the module docstring."""
    settings = settings.model_copy(
        update={
            "detection": settings.detection.model_copy(update={"classifier": options.classifier})
        }
    )
    stack = LocalStack(settings, progress=progress)
    status = stack.status()
    was_running = status.kafka.running and status.redis.running
    progress("starting the stack (Kafka, Redis)…")
    endpoints = stack.up(services=BENCH_SERVICES)
    run_id = uuid.uuid4().hex[:8]
    topics = TopicSet.default().namespaced(f"bench{run_id}")
    naive_in, naive_out, warmup = (
        f"clearpath.bench.naive-in.{run_id}",
        f"clearpath.bench.naive-out.{run_id}",
        f"clearpath.bench.warmup.{run_id}",
    )
    all_topics = [*topics.all(), naive_in, naive_out, warmup]
    kafka_admin.ensure_topics(
        endpoints.kafka_bootstrap,
        all_topics,
        partitions=settings.kafka.partitions,
        replication_factor=settings.kafka.replication_factor,
        retention_ms=3_600_000,
        client_config=kafka_admin.client_config(settings.kafka),
    )
    base = client_config(settings.kafka, endpoints.kafka_bootstrap)
    batch = settings.worker.batch_max
    cold = make_mix(options.messages, run_id=run_id, now=utcnow(), seed=options.seed)
    try:
        pipeline = build_pipeline(settings)
        # The broker warms up first: a freshly started JVM compiles and loads for a while,
        # and measured beside that the bare model came out 25-40 % slow on 2 cores (and
        # e2e / model above 1 in split runs; docs/BENCHMARKS.md, session 7).
        if options.warmup_s > 0:
            progress(f"warming the broker up: transactions for {options.warmup_s:.0f} s…")
            warm_broker(base, warmup, seconds=options.warmup_s)
        progress(f"model only: {len(cold)} texts in batches of {batch}…")
        model = model_only(pipeline, cold, batch=batch)
        naive_items = cold[: max(1, min(options.naive_messages, len(cold)))]
        progress(f"naive loop: {len(naive_items)} messages, one at a time…")
        naive = run_naive(
            pipeline=pipeline,
            base_config=base,
            input_topic=naive_in,
            output_topic=naive_out,
            items=naive_items,
            timeout_s=options.timeout_s,
        )
        closed, warm, half, curve = _kafka_phases(
            settings,
            options,
            env={
                "CLEARPATH_KAFKA__BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
                "CLEARPATH_REDIS__URL": endpoints.redis_url,
                "CLEARPATH_STACK__STATE_DIR": str(stack.state_dir),
                "CLEARPATH_WORKER__TOPIC_SUFFIX": f"bench{run_id}",
                "CLEARPATH_DETECTION__CLASSIFIER": options.classifier,
            },
            base=base,
            topics=topics,
            cold=cold,
            run_id=run_id,
            log_dir=Path(stack.state_dir) / "logs" / f"bench-{run_id}",
            progress=progress,
        )
    finally:
        kafka_admin.delete_topics(endpoints.kafka_bootstrap, all_topics)
        if not options.keep_stack and not was_running:
            progress("stopping the stack…")
            stack.down(services=BENCH_SERVICES)
    return BenchResult(
        closed=closed,
        model_only=model,
        naive=naive,
        cache_hit=warm,
        half_load=half,
        load_curve=curve,
        machine=machine_info(),
        settings={
            **{k: v for k, v in asdict(options).items() if k != "keep_stack"},
            "batch_max": batch,
            "batch_wait_ms": settings.worker.batch_wait_ms,
            "partitions": settings.kafka.partitions,
            "model_version": pipeline.model_version,
            "model_variant": settings.model.variant,
            "model_provider": settings.model.provider,
            "intra_op_threads": settings.model.intra_op_threads,
            "pipelined_commits": settings.worker.pipelined_commits,
            "txn_retry_backoff_ms": settings.kafka.txn_retry_backoff_ms,
        },
    )


def _kafka_phases(
    settings: Settings,
    options: BenchOptions,
    *,
    env: dict[str, str],
    base: dict[str, Any],
    topics: TopicSet,
    cold: list[MixItem],
    run_id: str,
    log_dir: Path,
    progress: Callable[[str], None],
) -> tuple[PhaseResult, PhaseResult, PhaseResult, tuple[PhaseResult, ...]]:
    """Closed loop (cold), warm-cache pass, open loop at half load, then the load curve's
    open loops: the workers of the topology as processes."""
    stages = TOPOLOGIES[options.topology]
    names = ", ".join(stages)
    progress(f"starting the {options.topology} topology: {names}, {options.replicas} of each…")
    workers = [
        start_worker(stage, env=env, log_dir=log_dir, instance=str(i))
        for stage in stages
        for i in range(options.replicas)
    ]
    reader = VerdictReader(base_config=base, topic=topics.verdicts, from_beginning=True)
    producer = RequestProducer(base_config=base, topic=topics.requests)
    timeout = options.timeout_s
    try:
        wait_ready(workers)
        if options.warmup_messages > 0:
            warmup = make_mix(
                options.warmup_messages, run_id=run_id, now=utcnow(), prefix="warmup",
                seed=options.seed + 2,
            )  # fmt: skip
            progress(f"warm-up: {len(warmup)} messages through the workers (not measured)…")
            send_closed(producer, warmup)
            collect(reader, {i.request.request_id for i in warmup}, timeout_s=timeout)
        progress(f"closed loop: {len(cold)} messages as fast as possible…")
        send_closed(producer, cold)
        got = collect(reader, {i.request.request_id for i in cold}, timeout_s=timeout)
        closed = verdict_phase("closed_loop", got, sent=len(cold))

        warm = resend(cold, prefix="warm", now=utcnow())
        progress(f"warm cache: the same {len(warm)} texts under new request ids…")
        send_closed(producer, warm)
        got = collect(reader, {i.request.request_id for i in warm}, timeout_s=timeout)
        cached = verdict_phase("cache_hit", got, sent=len(warm))

        def open_loop(
            name: str, rate: float, seconds: float, seed: int, prefix: str
        ) -> PhaseResult:
            count = max(1, round(rate * seconds))
            # Letters-only prefixes: digits in a text's tag can read as a phone number.
            fresh = make_mix(count, run_id=run_id, now=utcnow(), prefix=prefix, seed=seed)
            progress(f"open loop ({name}): {rate:.1f} msgs/s for {seconds:.0f} s ({count})…")
            # The sender runs beside the reader, so each verdict is stamped when it arrives.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-loop") as pool:
                sending = pool.submit(send_open, producer, fresh, rate=rate)
                got = collect(
                    reader,
                    {i.request.request_id for i in fresh},
                    timeout_s=seconds + timeout,
                    poll_s=_OPEN_POLL_S,
                    stamp=True,
                )
                lag = sending.result()
            notes: dict[str, object] = {
                "target_rate": round(rate, 1),
                "sender_lag_s": round(lag, 3),
            }
            return verdict_phase(name, got, sent=count, notes=notes)

        half = open_loop(
            "half_load",
            options.rate or max(1.0, closed.msgs_per_s / 2),
            options.duration_s,
            options.seed + 1,
            "open",
        )
        curve = tuple(
            open_loop(
                f"load_{fraction:g}",
                max(1.0, closed.msgs_per_s * fraction),
                options.curve_duration_s or options.duration_s,
                options.seed + 10 + i,
                "curve" + _letters(i),
            )
            for i, fraction in enumerate(options.load_curve)
        )
    finally:
        reader.close()
        alive_at_end = {w.log_path.stem: w.alive() for w in workers}
        stop_workers(workers)
    if not all(alive_at_end.values()):
        raise RuntimeError(f"a worker died during the bench: {alive_at_end}; logs in {log_dir}")
    return closed, cached, half, curve

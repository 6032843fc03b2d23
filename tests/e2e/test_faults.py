"""Fault injection on the real pipeline: a broker restart, fuzzed poison input, many kills, a
deep backlog. Loopback only; every process this starts is stopped by pid.

SIGKILL of each worker once and a Redis outage are covered in test_pipeline.py and
test_cache_outage.py. The many-kill and backlog tests are long: marked ``slow`` (opt in).
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from shared.errors import PoisonMessage
from shared.schemas import MAX_TEXT_BYTES, ModerationRequest, Verdict, decode
from shared.settings import (
    KafkaSettings,
    PrometheusSettings,
    RedisSettings,
    Settings,
    StackSettings,
)
from shared.stack import LocalStack
from shared.stack.models import Endpoints
from tests.support.pipeline import RunningPipeline, make_requests, running_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _supervised_collect(
    pipeline: RunningPipeline,
    expected: set[str],
    *,
    timeout_s: float,
    settle_s: float = 3.0,
    on_tick: Callable[[], None] | None = None,
) -> tuple[list[Verdict], list[str]]:
    """Every verdict until ``expected`` is answered (then ``settle_s`` more); a worker that
    exited is restarted, as a supervisor would. The verdicts and the restarted stages."""
    restarted: list[str] = []
    seen: list[Verdict] = []
    answered: set[str] = set()
    reader = pipeline.reader()
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < (settle_until or deadline):
            for stage, worker in list(pipeline.workers.items()):
                if not worker.alive():
                    restarted.append(f"{stage}(rc={worker.process.returncode})")
                    pipeline.restart(stage)
            if on_tick is not None:
                on_tick()
            for verdict in reader.poll(0.5):
                seen.append(verdict)
                answered.add(verdict.request_id)
            if settle_until is None and expected <= answered:
                settle_until = time.monotonic() + settle_s
    finally:
        reader.close()
    return seen, restarted


def _assert_exactly_once(requests: Sequence[ModerationRequest], verdicts: list[Verdict]) -> None:
    counts = Counter(v.request_id for v in verdicts)
    missing = {r.request_id for r in requests} - set(counts)
    assert not missing, f"{len(missing)} requests lost, e.g. {sorted(missing)[:3]}"
    duplicated = [rid for rid, n in counts.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} requests answered twice, e.g. {duplicated[:3]}"


# -- (i) the broker restarts mid-run ----------------------------------------------------


@pytest.fixture
def private_stack(stack_endpoints: Endpoints, tmp_path: Path) -> Iterator[LocalStack]:
    """A Kafka of this test's own (its state under tmp_path), so it can be bounced freely;
    Redis is the session's. Stopped (by pid, through its pid file) afterwards."""
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("a private Kafka needs Java and Maven")
    stack = LocalStack(
        Settings(
            kafka=KafkaSettings(),
            redis=RedisSettings(url=stack_endpoints.redis_url),
            prometheus=PrometheusSettings(),
            stack=StackSettings(state_dir=tmp_path / "private-stack"),
        ),
        topics=(),
    )
    try:
        yield stack
    finally:
        stack.down()


def test_a_broker_restart_mid_run_loses_and_duplicates_nothing(
    private_stack: LocalStack,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    endpoints = private_stack.up()
    requests = make_requests(1200, conversations=30, prefix="bounce")
    with running_pipeline(endpoints, tmp_path, batch_max=32) as pipeline:
        for request in requests[:500]:
            pipeline.producer.send(request)
        pipeline.producer.flush()
        time.sleep(0.5)  # batches in flight in every stage
        down_at = time.monotonic()
        assert private_stack.down(services=("kafka",)) == ("kafka",)
        for request in requests[500:900]:  # buffered by the client while the broker is away
            pipeline.producer.send(request)
        assert private_stack.up() == endpoints, "the broker came back on another port"
        outage_s = time.monotonic() - down_at
        for request in requests[900:]:
            pipeline.producer.send(request)
        pipeline.producer.flush(120)
        # A worker whose client wedged exits for a restart (shared/broker.py), as it would in
        # production; each such restart costs seconds, hence a generous bound (not a timing
        # assertion: the collection ends as soon as every request is answered).
        verdicts, restarted = _supervised_collect(
            pipeline, {r.request_id for r in requests}, timeout_s=120
        )
        alive = {stage: w.alive() for stage, w in pipeline.workers.items()}

    record_property("broker_outage_s", round(outage_s, 1))
    record_property("workers_restarted", ",".join(restarted) or "none")
    print(f"broker outage {outage_s:.1f}s; workers restarted: {restarted or 'none'}")
    _assert_exactly_once(requests, verdicts)
    assert all(alive.values()), alive


# -- (ii) fuzzed malformed input ---------------------------------------------------------

_REQUIRED = ("request_id", "tenant_id", "text", "submitted_at")


def _valid_doc(text: str = "hello there") -> dict[str, object]:
    return {
        "request_id": "fuzz",
        "tenant_id": "fuzz",
        "text": text,
        "submitted_at": "2025-01-01T00:00:00+00:00",
    }


def _dumps(doc: object) -> bytes:
    return json.dumps(doc).encode()


_not_str = st.one_of(
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
_MALFORMED: st.SearchStrategy[bytes] = st.one_of(
    st.text(max_size=40).map(lambda t: ("{not json " + t).encode()),
    st.tuples(st.sampled_from(_REQUIRED), _not_str).map(
        lambda kv: _dumps({**_valid_doc(), kv[0]: kv[1]})
    ),
    st.binary(max_size=30).map(lambda b: b'{"text": "\xff\xfe' + b + b'"}'),
    st.tuples(st.sampled_from(("a", "\u00e9", "\u20ac")), st.integers(1, 4000)).map(
        lambda cv: _dumps(_valid_doc(cv[0] * (MAX_TEXT_BYTES // len(cv[0].encode()) + cv[1])))
    ),
    st.sets(st.sampled_from(_REQUIRED), min_size=1).map(
        lambda gone: _dumps({k: v for k, v in _valid_doc().items() if k not in gone})
    ),
    st.sampled_from((b"", b" ", b"1", b"x", b"{}", b"[]", b"null", b'"s"', b"\x00")),
)


def _generate_malformed(count: int) -> list[bytes]:
    """``count`` malformed payloads from a seeded strategy, generated before any Kafka I/O."""
    found: list[bytes] = []

    @seed(20250101)
    @settings(max_examples=count, database=None, derandomize=True, deadline=None)
    @given(_MALFORMED)
    def draw(payload: bytes) -> None:
        if len(found) < count:
            found.append(payload)

    draw()
    return found


def _error_type(raw: bytes) -> str:
    try:
        decode(raw, ModerationRequest)
    except PoisonMessage as exc:
        return exc.error_type
    raise AssertionError(f"a 'malformed' payload decodes: {raw[:60]!r}")


def test_fuzzed_malformed_input_is_dead_lettered_and_valid_traffic_flows(
    stack_endpoints: Endpoints, tmp_path: Path
) -> None:
    malformed = _generate_malformed(30) + [b"{}", b""] * 60  # and many tiny messages
    expected = {f"bad-{i}": _error_type(raw) for i, raw in enumerate(malformed)}
    valid = make_requests(300, prefix="fuzz-ok")
    rng = random.Random(11)
    stream: list[tuple[str, bytes] | ModerationRequest] = [*valid]
    for i, raw in enumerate(malformed):
        stream.insert(rng.randrange(len(stream) + 1), (f"bad-{i}", raw))
    with running_pipeline(stack_endpoints, tmp_path) as pipeline:
        for item in stream:
            if isinstance(item, ModerationRequest):
                pipeline.producer.send(item)
            else:
                pipeline.producer.send_raw(item[1], key=item[0].encode())
        pipeline.producer.flush()
        verdicts = pipeline.collect({r.request_id for r in valid})
        letters = pipeline.dead_letters(count=len(malformed))
        alive = {stage: w.alive() for stage, w in pipeline.workers.items()}

    assert all(alive.values()), f"a worker died on poison input: {alive}"
    _assert_exactly_once(valid, verdicts)
    got = Counter(letter.key_b64 for letter in letters)
    assert sum(got.values()) == len(malformed), got.most_common(3)
    for letter in letters:
        assert letter.key_b64 is not None
        key = base64.b64decode(letter.key_b64).decode()
        assert key in expected, key
        assert letter.error_type == expected[key], (key, letter.error_type, letter.message)
        assert letter.message and letter.stage == "detection"
        assert letter.original() == malformed[int(key.removeprefix("bad-"))]
    assert set(got) == {base64.b64encode(k.encode()).decode() for k in expected}


# -- (iii) many SIGKILLs of random workers (slow) ------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_many_random_sigkills_over_twenty_thousand_messages_lose_and_duplicate_nothing(
    stack_endpoints: Endpoints,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    requests = make_requests(20_000, conversations=200, prefix="multikill")
    rng = random.Random(2024)
    kills: list[str] = []
    with running_pipeline(stack_endpoints, tmp_path, batch_max=64) as pipeline:
        chunks = [requests[i : i + 2500] for i in range(0, len(requests), 2500)]
        for n, chunk in enumerate(chunks):
            for request in chunk:
                pipeline.producer.send(request)
            pipeline.producer.flush()
            if n % 2 == 1 or n == len(chunks) - 1:  # several kills, at random moments
                time.sleep(rng.uniform(0.1, 2.0))
                stage = rng.choice(("detection", "policy", "response"))
                pipeline.workers[stage].kill()
                kills.append(stage)
                pipeline.restart(stage)
        verdicts, restarted = _supervised_collect(
            pipeline, {r.request_id for r in requests}, timeout_s=900, settle_s=5.0
        )
    record_property("kills", ",".join(kills))
    record_property("unplanned_restarts", ",".join(restarted) or "none")
    assert len(kills) >= 4
    _assert_exactly_once(requests, verdicts)


# -- (iv) a deep backlog: memory stays bounded (slow) ------------------------------------


def _rss_kib(pid: int, field: str) -> int:
    """``VmHWM`` (peak) or ``VmRSS`` of ``pid`` in KiB, from /proc; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_backlog_of_two_hundred_thousand_keeps_worker_memory_bounded(
    stack_endpoints: Endpoints,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    total = 200_000
    requests = make_requests(total, conversations=500, prefix="backlog")
    with running_pipeline(stack_endpoints, tmp_path) as pipeline:
        workers = dict(pipeline.workers)
        baseline = {s: _rss_kib(w.pid, "VmRSS") for s, w in workers.items()}
        for request in requests:  # the whole backlog lands before the workers catch up
            pipeline.producer.send(request)
        pipeline.producer.flush(300)
        peaks = dict(baseline)

        def sample() -> None:
            for stage, worker in workers.items():
                peaks[stage] = max(peaks[stage], _rss_kib(worker.pid, "VmHWM"))

        verdicts, restarted = _supervised_collect(
            pipeline, {r.request_id for r in requests}, timeout_s=1500, on_tick=sample
        )
        sample()
    mib = {s: round(kib / 1024) for s, kib in peaks.items()}
    record_property("peak_rss_mib", json.dumps(mib))
    record_property(
        "baseline_rss_mib", json.dumps({s: round(k / 1024) for s, k in baseline.items()})
    )
    print(f"peak RSS per worker (MiB): {mib}")
    assert not restarted, restarted
    assert len({v.request_id for v in verdicts}) == total
    for stage, kib in peaks.items():
        # Bounded: a batch at a time, never the backlog. 200k requests are ~40 MiB of JSON.
        assert kib - baseline[stage] < 400 * 1024, (
            f"{stage} grew by {(kib - baseline[stage]) // 1024} MiB"
        )

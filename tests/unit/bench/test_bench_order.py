"""run_bench warms the broker up before it measures the bare model: measured beside a freshly
started broker the model came out 25-40 % slow on 2 cores, which flattered e2e / model."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from shared.bench import runner
from shared.bench.result import PhaseResult
from shared.settings import Settings


def _phase(name: str) -> PhaseResult:
    return PhaseResult(name=name, messages=10, msgs_per_s=10.0, seconds=1.0)


def test_the_broker_warms_up_before_the_model_is_measured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    calls: list[str] = []

    class Stack:
        state_dir = tmp_path

        def __init__(self, *_a: Any, **_k: Any) -> None: ...

        def status(self) -> Any:
            up = SimpleNamespace(running=True)
            return SimpleNamespace(kafka=up, redis=up)

        def up(self, **_k: Any) -> Any:
            return SimpleNamespace(kafka_bootstrap="127.0.0.1:1", redis_url="redis://x")

    def record(name: str, result: Any = None) -> Any:
        def call(*_a: Any, **_k: Any) -> Any:
            calls.append(name)
            return result

        return call

    monkeypatch.setattr(runner, "LocalStack", Stack)
    monkeypatch.setattr(runner.kafka_admin, "ensure_topics", record("topics"))
    monkeypatch.setattr(runner.kafka_admin, "delete_topics", record("delete"))
    monkeypatch.setattr(
        runner, "build_pipeline", record("pipeline", SimpleNamespace(model_version="m@1"))
    )
    monkeypatch.setattr(runner, "warm_broker", record("warm_broker", 3))
    monkeypatch.setattr(runner, "model_only", record("model_only", _phase("model_only")))
    monkeypatch.setattr(runner, "run_naive", record("naive", _phase("naive")))
    phases = (_phase("closed_loop"), _phase("cache_hit"), _phase("half_load"), ())
    monkeypatch.setattr(runner, "_kafka_phases", record("kafka", phases))
    monkeypatch.setattr(runner, "machine_info", record("machine", {}))
    runner.run_bench(Settings(), runner.BenchOptions(), progress=lambda _line: None)
    assert calls[: calls.index("kafka") + 1] == [
        "topics",
        "pipeline",
        "warm_broker",
        "model_only",
        "naive",
        "kafka",
    ]

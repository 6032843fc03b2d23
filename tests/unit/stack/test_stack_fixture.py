"""The integration fixture's endpoint resolution and its shared-session leases (no services)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support import services


class _FakeStack:
    def __init__(self) -> None:
        self.downs: list[list[str]] = []

    def down(self, *, services: list[str]) -> tuple[str, ...]:
        self.downs.append(sorted(services))
        return tuple(services)


def test_env_endpoints_win_and_create_the_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[tuple[str, Any]] = []

    def ensure(bootstrap: str, topics: Any, **_: Any) -> None:
        created.append((bootstrap, topics))

    migrated: list[str] = []
    monkeypatch.setattr(services, "ensure_topics", ensure)
    monkeypatch.setattr(services, "migrate", migrated.append)
    monkeypatch.setattr(services, "docker_available", lambda: False)
    env = {
        services.ENV_KAFKA: "k:9092",
        services.ENV_REDIS: "redis://r:6379/0",
        services.ENV_POSTGRES: "postgresql://u@p:5432/db",
    }
    with services.provide_endpoints(env) as endpoints:
        assert (endpoints.kafka_bootstrap, endpoints.redis_url) == ("k:9092", "redis://r:6379/0")
        assert endpoints.postgres_url == "postgresql://u@p:5432/db"
    assert created and created[0][0] == "k:9092"
    assert migrated == ["postgresql://u@p:5432/db"]


def test_state_dir_is_separate_from_the_users_stack(tmp_path: Path) -> None:
    assert services.stack_state_dir({}).name == "clearpath-test"
    assert services.stack_state_dir({services.ENV_STATE_DIR: str(tmp_path)}) == tmp_path


def test_docker_branch_is_skipped_without_testcontainers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert services.docker_available() is False


def test_last_session_out_stops_what_tests_started(tmp_path: Path) -> None:
    leases = services._Leases(tmp_path)
    leases.take(started=["redis"])
    other = leases.dir / "1"  # pid 1 always runs: another live session
    other.touch()
    fake = _FakeStack()
    leases.release(fake)  # type: ignore[arg-type]
    assert fake.downs == []  # someone else still uses it
    other.unlink()
    leases.take(started=[])
    leases.release(fake)  # type: ignore[arg-type]
    assert fake.downs == [["redis"]]
    assert not leases.started.exists()


def test_a_stack_started_by_hand_is_left_running(tmp_path: Path) -> None:
    leases = services._Leases(tmp_path)
    leases.take(started=[])
    dead = leases.dir / str(2**22 + 17)
    dead.touch()  # a crashed session's lease is pruned
    fake = _FakeStack()
    leases.release(fake)  # type: ignore[arg-type]
    assert fake.downs == []
    assert not dead.exists() and not (leases.dir / str(os.getpid())).exists()

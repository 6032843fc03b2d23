"""LocalStack without a JVM: external endpoints, remembered ports, idempotent up, exact down."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared import kafka_admin
from shared.errors import StackError
from shared.settings import (
    KafkaSettings,
    PostgresSettings,
    PrometheusSettings,
    RedisSettings,
    Settings,
    StackSettings,
)
from shared.stack import LocalStack, manager, process
from shared.stack.gateway import GatewayNode
from shared.stack.kafka import KafkaNode
from shared.stack.models import Endpoints, Ports
from shared.stack.postgres import PostgresNode
from shared.stack.prometheus import PrometheusNode
from shared.stack.redis import RedisNode


def _settings(state_dir: Path, *, gateway: bool = False, **sections: Any) -> Settings:
    """Settings for a stack in ``state_dir``; the gateway only where a test is about it."""
    stack = StackSettings(state_dir=state_dir, start_timeout_s=5, gateway=gateway)
    return Settings(stack=stack, **sections)


def _fake_start(
    node: KafkaNode | RedisNode | PostgresNode | PrometheusNode | GatewayNode, tmp_path: Path
) -> int:
    """A stand-in server: a sleeping process that carries the node's marker."""
    argv = [sys.executable, "-c", "import time; time.sleep(120)", *node.marker.split()]
    return process.spawn_detached(argv, log_path=tmp_path / "fake.log", cwd=tmp_path)


@pytest.fixture
def fake_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Nodes start sleeping processes; every health check passes; records what started."""
    started: list[tuple[str, int]] = []

    def kafka_start(self: KafkaNode, *, port: int, controller_port: int, progress: Any) -> int:
        pid = _fake_start(self, tmp_path)
        started.append(("kafka", pid))
        return pid

    def redis_start(self: RedisNode, *, port: int, progress: Any) -> int:
        pid = _fake_start(self, tmp_path)
        started.append(("redis", pid))
        return pid

    def prometheus_start(self: PrometheusNode, *, port: int, progress: Any) -> int:
        pid = _fake_start(self, tmp_path)
        started.append(("prometheus", pid))
        return pid

    def postgres_start(self: PostgresNode, *, port: int, progress: Any) -> int:
        pid = _fake_start(self, tmp_path)
        started.append(("postgres", pid))
        return pid

    def gateway_start(self: GatewayNode, *, port: int, endpoints: Endpoints, progress: Any) -> int:
        pid = _fake_start(self, tmp_path)
        started.append(("gateway", pid))
        self.write_targets(port)
        gateway_env.update(kafka=endpoints.kafka_bootstrap, postgres=endpoints.postgres_url)
        return pid

    gateway_env: dict[str, str | None] = {}

    migrated: list[str] = []

    monkeypatch.setattr(KafkaNode, "start", kafka_start)
    monkeypatch.setattr(RedisNode, "start", redis_start)
    monkeypatch.setattr(PrometheusNode, "start", prometheus_start)
    monkeypatch.setattr(PostgresNode, "start", postgres_start)
    monkeypatch.setattr(GatewayNode, "start", gateway_start)
    monkeypatch.setattr(manager, "gateway_ready", lambda url: True)
    monkeypatch.setattr(PostgresNode, "create_database", lambda self, port: None)
    monkeypatch.setattr(manager, "redis_ready", lambda url: True)
    monkeypatch.setattr(manager, "prometheus_ready", lambda url: True)
    monkeypatch.setattr(manager, "postgres_ready", lambda url: True)
    monkeypatch.setattr(manager, "migrate", lambda url: migrated.append(url) or ())
    monkeypatch.setattr(kafka_admin, "broker_ready", lambda bootstrap, **_: True)
    state: dict[str, Any] = {"started": started, "migrated": migrated, "gateway": gateway_env}
    yield state
    for _, pid in started:
        if process.is_running(pid) and str(tmp_path) in (process.cmdline(pid) or ""):
            os.kill(pid, 9)


def test_external_endpoints_start_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("an external service must not be started")

    monkeypatch.setattr(KafkaNode, "start", refuse)
    monkeypatch.setattr(RedisNode, "start", refuse)
    monkeypatch.setattr(PrometheusNode, "start", refuse)
    monkeypatch.setattr(PostgresNode, "start", refuse)
    monkeypatch.setattr(manager, "redis_ready", lambda url: True)
    monkeypatch.setattr(manager, "prometheus_ready", lambda url: True)
    monkeypatch.setattr(manager, "postgres_ready", lambda url: True)
    migrated: list[str] = []
    monkeypatch.setattr(manager, "migrate", lambda url: migrated.append(url) or ())
    monkeypatch.setattr(kafka_admin, "broker_ready", lambda bootstrap, **_: True)
    dsn = "postgresql://app:s3cret@db.internal:5433/clearpath"
    settings = _settings(
        tmp_path / "state",
        kafka=KafkaSettings(bootstrap_servers="broker-a:9092,broker-b:9092"),
        redis=RedisSettings(url="redis://cache.internal:6380/2"),
        prometheus=PrometheusSettings(url="http://prometheus.internal:9090"),
        postgres=PostgresSettings(url=dsn),
    )
    stack = LocalStack(settings, topics=())
    endpoints = stack.up()
    assert endpoints.kafka_bootstrap == "broker-a:9092,broker-b:9092"
    assert endpoints.redis_url == "redis://cache.internal:6380/2"
    assert endpoints.prometheus_url == "http://prometheus.internal:9090"
    assert endpoints.postgres_url == dsn and migrated == [dsn]  # the schema is still applied
    assert stack.down() == ()
    status = stack.status()
    assert status.postgres_url == "postgresql://app:***@db.internal:5433/clearpath"
    assert "s3cret" not in str(status.to_dict())
    assert not status.kafka.managed and not status.redis.managed
    assert status.kafka.pid is None and status.redis.pid is None
    assert not (tmp_path / "state" / "kafka").exists()
    assert not (tmp_path / "state" / "redis").exists()


def test_unreachable_external_kafka_is_a_stack_error(tmp_path: Path) -> None:
    port = process.free_port()
    settings = Settings(
        stack=StackSettings(state_dir=tmp_path, start_timeout_s=0.5),
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"),
        redis=RedisSettings(url=f"redis://127.0.0.1:{port}/0"),
        postgres=PostgresSettings(url=f"postgresql://u@127.0.0.1:{port}/db"),
    )
    with pytest.raises(StackError, match="external Redis"):
        LocalStack(settings, topics=()).up()
    status = LocalStack(settings).status()
    assert status.kafka.running is False and status.redis.running is False


def test_up_starts_once_remembers_ports_and_down_stops_exactly_ours(
    tmp_path: Path, fake_stack: dict[str, Any]
) -> None:
    stack = LocalStack(_settings(tmp_path / "state"), topics=())
    first = stack.up()
    assert [name for name, _ in fake_stack["started"]] == [
        "kafka",
        "redis",
        "postgres",
        "prometheus",
    ]
    assert first.postgres_url is not None and first.postgres_url.startswith("postgresql://")
    assert fake_stack["migrated"] == [first.postgres_url]
    assert first.kafka_bootstrap.startswith("127.0.0.1:")
    assert first.redis_url.startswith("redis://127.0.0.1:")

    again = LocalStack(_settings(tmp_path / "state"), topics=()).up()
    assert again == first
    assert len(fake_stack["started"]) == 4  # idempotent: nothing started twice

    status = stack.status()
    pids = {name: pid for name, pid in fake_stack["started"]}
    assert status.running
    assert (status.kafka.pid, status.redis.pid) == (pids["kafka"], pids["redis"])
    ports = Ports.load(tmp_path / "state" / "ports.json")
    assert status.kafka.port == ports.kafka and status.redis.port == ports.redis
    assert len(set(ports.taken())) == 5
    assert status.prometheus is not None and status.prometheus.pid == pids["prometheus"]
    assert first.prometheus_url == status.prometheus_url
    assert (tmp_path / "state" / "prometheus" / "targets.json").read_text() == "[]\n"

    assert stack.down() == ("kafka", "redis", "postgres", "prometheus")
    assert not any(process.is_running(pid) for pid in pids.values())
    assert stack.down() == ()
    after = stack.status()
    assert not after.running
    assert after.kafka_bootstrap == first.kafka_bootstrap  # remembered for the next start


def test_up_of_kafka_and_redis_alone_starts_and_stops_nothing_else(
    tmp_path: Path, fake_stack: dict[str, Any]
) -> None:
    # What the benchmark asks for: no PostgreSQL, Prometheus or gateway beside what it times.
    stack = LocalStack(_settings(tmp_path / "state", gateway=True), topics=())
    endpoints = stack.up(services=("kafka", "redis"))
    assert [name for name, _ in fake_stack["started"]] == ["kafka", "redis"]
    assert endpoints.postgres_url is None and endpoints.prometheus_url is None
    assert endpoints.gateway_url is None and fake_stack["migrated"] == []
    status = stack.status()
    assert status.kafka.running and status.redis.running
    assert status.postgres is not None and not status.postgres.running
    assert stack.down(services=("kafka", "redis")) == ("kafka", "redis")
    with pytest.raises(ValueError, match="unknown services"):
        stack.up(services=("kafka", "redis", "grafana"))


def test_down_ignores_a_pid_file_naming_a_foreign_process(
    tmp_path: Path, fake_stack: dict[str, Any]
) -> None:
    stack = LocalStack(_settings(tmp_path / "state"), topics=())
    process.write_pid(stack.kafka.pid_file, os.getpid())  # a recycled pid: this very test
    process.write_pid(stack.redis.pid_file, 2**22 + 17)  # a pid that is gone
    assert stack.down() == ()
    assert process.is_running(os.getpid())
    assert not stack.kafka.pid_file.exists() and not stack.redis.pid_file.exists()


def test_up_replaces_a_stale_pid_and_a_taken_port(
    tmp_path: Path, fake_stack: dict[str, Any]
) -> None:
    state = tmp_path / "state"
    stack = LocalStack(_settings(state), topics=())
    with socket.socket() as squatter:
        squatter.bind((process.LOOPBACK, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        Ports(kafka=taken).save(state / "ports.json")
        process.write_pid(stack.kafka.pid_file, os.getpid())
        endpoints = stack.up()
    assert endpoints.kafka_bootstrap != f"127.0.0.1:{taken}"
    assert process.read_pid(stack.kafka.pid_file) == dict(fake_stack["started"])["kafka"]
    stack.down()


def test_a_server_that_dies_at_start_is_reported_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dying_start(self: RedisNode, *, port: int, progress: Any) -> int:
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-c", "print('bind: address in use'); raise SystemExit(1)"]
        return process.spawn_detached(argv, log_path=self.log, cwd=self.home)

    monkeypatch.setattr(RedisNode, "start", dying_start)
    monkeypatch.setattr(manager, "redis_ready", lambda url: False)
    settings = _settings(
        tmp_path,
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        postgres=PostgresSettings(url="postgresql://u@127.0.0.1:1/db"),
    )
    with pytest.raises(StackError, match=r"(?s)Redis exited at start.*address in use"):
        LocalStack(settings, topics=()).up()
    assert not (tmp_path / "redis" / "redis.pid").exists()


def test_purge_stops_everything_and_deletes_only_managed_data(
    tmp_path: Path, fake_stack: dict[str, Any]
) -> None:
    stack = LocalStack(_settings(tmp_path / "state"), topics=())
    stack.up()
    for directory in (stack.kafka.data_dir, stack.prometheus.data_dir, stack.postgres.data_dir):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "segment").write_text("data")
    pids = [pid for _, pid in fake_stack["started"]]
    assert set(stack.purge()) == {"kafka", "postgres", "prometheus"}
    assert not any(process.is_running(pid) for pid in pids)
    assert not stack.kafka.data_dir.exists() and not stack.prometheus.data_dir.exists()
    assert not stack.postgres.cluster.exists()
    assert stack.purge() == ()  # nothing left: idempotent


def test_the_gateway_starts_last_against_the_stack_and_stops_first(
    tmp_path: Path, fake_stack: dict[str, Any]
) -> None:
    state = tmp_path / "state"
    stack = LocalStack(_settings(state, gateway=True), topics=())
    first = stack.up()
    assert [name for name, _ in fake_stack["started"]][-1] == "gateway"
    assert first.gateway_url is not None and first.gateway_url.startswith("http://127.0.0.1:")
    assert fake_stack["gateway"] == {
        "kafka": first.kafka_bootstrap,
        "postgres": first.postgres_url,
    }
    status = stack.status()
    assert status.gateway is not None and status.gateway.managed and status.gateway.running
    assert status.to_dict()["gateway_url"] == first.gateway_url
    port = Ports.load(state / "ports.json").gateway
    targets = json.loads((state / "prometheus" / "gateway.json").read_text())
    assert targets == [{"targets": [f"127.0.0.1:{port}"], "labels": {"stage": "gateway"}}]

    assert LocalStack(_settings(state, gateway=True), topics=()).up() == first  # idempotent
    assert len(fake_stack["started"]) == 5
    assert stack.down()[0] == "gateway"
    assert json.loads((state / "prometheus" / "gateway.json").read_text()) == []
    assert not stack.status().running


def test_without_the_gateway_setting_the_stack_neither_starts_nor_lists_it(
    tmp_path: Path, fake_stack: dict[str, Any]
) -> None:
    stack = LocalStack(_settings(tmp_path / "state"), topics=())
    assert stack.up().gateway_url is None
    assert "gateway" not in [name for name, _ in fake_stack["started"]]
    assert stack.status().gateway is None and stack.status().running
    stack.down()

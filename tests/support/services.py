"""Real Kafka and Redis for integration and e2e tests, resolved per service in this order.

1. ``CLEARPATH_TEST_KAFKA_BOOTSTRAP`` / ``CLEARPATH_TEST_REDIS_URL`` /
   ``CLEARPATH_TEST_POSTGRES_URL``: endpoints someone runs.
2. testcontainers, when the package is installed and a Docker engine answers.
3. The local stack in a dedicated state directory (``CLEARPATH_TEST_STATE_DIR``, default
   ``~/.local/state/clearpath-test``), so tests never touch the user's demo stack. It is
   started if needed; what test sessions started is stopped by the last session to leave
   (sessions may overlap), and a test stack someone started by hand is left running.

Whatever the source, the pipeline topics exist once the endpoints are handed out.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.db import migrate
from shared.errors import StackError
from shared.kafka_admin import ensure_topics
from shared.settings import Settings, default_state_dir
from shared.stack import Endpoints, LocalStack, process
from shared.topics import ALL_TOPICS

__all__ = [
    "ENV_KAFKA",
    "ENV_POSTGRES",
    "ENV_REDIS",
    "ENV_STATE_DIR",
    "docker_available",
    "provide_endpoints",
    "stack_endpoints",
    "stack_state_dir",
]

ENV_KAFKA = "CLEARPATH_TEST_KAFKA_BOOTSTRAP"
ENV_REDIS = "CLEARPATH_TEST_REDIS_URL"
ENV_POSTGRES = "CLEARPATH_TEST_POSTGRES_URL"
ENV_STATE_DIR = "CLEARPATH_TEST_STATE_DIR"


def stack_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where the tests' own local stack lives (never the user's ``clearpath`` state)."""
    configured = env.get(ENV_STATE_DIR)
    return Path(configured) if configured else default_state_dir().with_name("clearpath-test")


def docker_available() -> bool:
    """True when testcontainers is installed and a Docker engine answers ``docker info``."""
    if importlib.util.find_spec("testcontainers") is None or shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _containers(
    stack: contextlib.ExitStack, kafka: str | None, redis_url: str | None
) -> tuple[str, str]:
    # Imported here: testcontainers is optional and absent from the default environment.
    from testcontainers.kafka import KafkaContainer  # type: ignore[import-not-found]
    from testcontainers.redis import RedisContainer  # type: ignore[import-not-found]

    if kafka is None:
        container: Any = stack.enter_context(KafkaContainer().with_kraft())
        kafka = str(container.get_bootstrap_server())
    if redis_url is None:
        cache: Any = stack.enter_context(RedisContainer())
        host, port = cache.get_container_host_ip(), cache.get_exposed_port(6379)
        redis_url = f"redis://{host}:{port}/0"
    return kafka, redis_url


def _local_stack(
    stack: contextlib.ExitStack,
    kafka: str | None,
    redis_url: str | None,
    postgres_url: str | None,
    state_dir: Path,
) -> Endpoints:
    base = Settings()
    settings = base.model_copy(
        update={
            "kafka": base.kafka.model_copy(update={"bootstrap_servers": kafka}),
            "redis": base.redis.model_copy(update={"url": redis_url}),
            "postgres": base.postgres.model_copy(update={"url": postgres_url}),
            # Tests run their own gateways (namespaced topics, their own keys): the shared
            # test stack does not start one.
            "stack": base.stack.model_copy(update={"state_dir": state_dir, "gateway": False}),
        }
    )
    if kafka is None and (shutil.which("java") is None or shutil.which("mvn") is None):
        pytest.skip(f"no Kafka for integration tests: set {ENV_KAFKA} or install Java and Maven")
    local = LocalStack(settings)
    leases = _Leases(state_dir)
    with process.file_lock(leases.lock):
        before = local.status()
        try:
            endpoints = local.up()
        except StackError as exc:
            pytest.fail(f"the test stack in {state_dir} did not start: {exc}", pytrace=False)
        leases.take(started=[s.name for s in before.services if s.managed and not s.running])
    stack.callback(leases.release, local)
    return endpoints


class _Leases:
    """Test sessions sharing one test stack (parallel runs, several engineers).

    Each session holds a lease (a file named by its pid). Services that a test session
    started are stopped by the last session to leave; a stack someone started by hand is
    never stopped by tests.
    """

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "test-leases"
        self.lock = state_dir / "test-leases.lock"
        self.started = self.dir / "started-by-tests"

    def take(self, *, started: list[str]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if started:
            known = set(self.started.read_text().split()) if self.started.exists() else set()
            self.started.write_text(" ".join(sorted(known | set(started))) + "\n")
        (self.dir / str(os.getpid())).touch()

    def release(self, local: LocalStack) -> None:
        with process.file_lock(self.lock):
            (self.dir / str(os.getpid())).unlink(missing_ok=True)
            alive = False
            for lease in self.dir.glob("[0-9]*"):
                if process.is_running(int(lease.name)):
                    alive = True
                else:
                    lease.unlink(missing_ok=True)  # a session that died without releasing
            if alive or not self.started.exists():
                return
            local.down(services=self.started.read_text().split())
            self.started.unlink()


@contextlib.contextmanager
def provide_endpoints(env: Mapping[str, str] = os.environ) -> Iterator[Endpoints]:
    """Endpoints of a real Kafka, Redis and PostgreSQL for the duration of the ``with`` block.

    PostgreSQL comes from ``CLEARPATH_TEST_POSTGRES_URL`` or the local test stack (its schema
    migrated either way).
    """
    kafka, redis_url = env.get(ENV_KAFKA) or None, env.get(ENV_REDIS) or None
    postgres_url = env.get(ENV_POSTGRES) or None
    with contextlib.ExitStack() as stack:
        if (kafka is None or redis_url is None) and docker_available():
            kafka, redis_url = _containers(stack, kafka, redis_url)
        if kafka is None or redis_url is None or postgres_url is None:
            local = _local_stack(stack, kafka, redis_url, postgres_url, stack_state_dir(env))
            kafka, redis_url = local.kafka_bootstrap, local.redis_url
            postgres_url = local.postgres_url
        else:
            migrate(postgres_url)
        defaults = Settings().kafka
        ensure_topics(
            kafka,
            ALL_TOPICS,
            partitions=defaults.partitions,
            replication_factor=defaults.replication_factor,
            retention_ms=defaults.retention_ms,
        )
        yield Endpoints(kafka_bootstrap=kafka, redis_url=redis_url, postgres_url=postgres_url)


def stack_endpoints() -> Iterator[Endpoints]:
    """Generator body of the session fixture ``stack_endpoints`` (see tests/integration)."""
    with provide_endpoints() as endpoints:
        yield endpoints

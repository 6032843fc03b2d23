"""``LocalStack``: bring Kafka, Redis, PostgreSQL, Prometheus and the HTTP gateway up; report;
stop what we started.

A service whose endpoint is named in settings is external: the stack uses it and starts
nothing for it. Everything else runs as a local process with its data, logs, pid and
remembered port under ``settings.stack.state_dir``. The gateway is Clearpath's own API, not
infrastructure, but it is what a platform talks to, so the stack runs it too (after
everything it needs; ``stack.gateway=false`` leaves it out).
"""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from shared import kafka_admin
from shared.db import migrate
from shared.errors import DatabaseError, InfrastructureError, StackError
from shared.settings import Settings
from shared.stack.gateway import GatewayNode, gateway_ready
from shared.stack.kafka import KafkaNode, default_cache_dir, default_deploy_dir
from shared.stack.models import Endpoints, Ports, ServiceName, ServiceStatus, StackStatus
from shared.stack.postgres import PostgresNode, postgres_ready
from shared.stack.process import (
    LOOPBACK,
    file_lock,
    free_port,
    is_running,
    owns,
    port_in_use,
    read_pid,
    remove_pid,
    stop_pid,
    wait_until,
    write_pid,
)
from shared.stack.prometheus import PrometheusNode, prometheus_ready
from shared.stack.redis import RedisNode, redis_ready
from shared.topics import TopicSet

__all__ = ["LocalStack"]

_log = logging.getLogger(__name__)
SERVICES = ("kafka", "redis", "postgres", "prometheus", "gateway")
Node = KafkaNode | RedisNode | PostgresNode | PrometheusNode | GatewayNode


def _redact(url: str) -> str:
    """``url`` without its password (status output and errors never show secrets)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _reachable(host: str | None, port: int | None) -> bool:
    if not host or port is None:
        return False
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


class LocalStack:
    """The local stack described by one :class:`Settings`; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        topics: Iterable[str] | None = None,
        deploy_dir: Path | None = None,
        cache_dir: Path | None = None,
        install_redis: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.state_dir = settings.stack.state_dir.expanduser().resolve()
        self.topics = tuple(TopicSet.default().all() if topics is None else topics)
        self._progress = progress or _log.info
        self.kafka = KafkaNode(
            state_dir=self.state_dir,
            version=settings.stack.kafka_version,
            heap=settings.stack.kafka_heap,
            jvm_options=settings.stack.kafka_jvm_options,
            deploy_dir=deploy_dir or default_deploy_dir(),
            cache_dir=cache_dir or default_cache_dir(),
        )
        self.redis = RedisNode(state_dir=self.state_dir, install=install_redis)
        self.postgres = PostgresNode(state_dir=self.state_dir, install=install_redis)
        self.prometheus = PrometheusNode(
            state_dir=self.state_dir,
            deploy_dir=deploy_dir or default_deploy_dir(),
            scrape_interval_s=settings.prometheus.scrape_interval_s,
            install=install_redis,
        )
        self.gateway = GatewayNode(state_dir=self.state_dir)
        self._ports_file = self.state_dir / "ports.json"
        self._lock_file = self.state_dir / "stack.lock"

    @property
    def external_kafka(self) -> str | None:
        return self.settings.kafka.bootstrap_servers

    @property
    def external_redis(self) -> str | None:
        return self.settings.redis.url

    @property
    def external_prometheus(self) -> str | None:
        return self.settings.prometheus.url

    @property
    def external_postgres(self) -> str | None:
        return self.settings.postgres.url

    def up(self, services: Collection[str] = SERVICES) -> Endpoints:
        """Start what is not running, wait until healthy, create the topics; the endpoints.

        ``services`` names what to bring up beyond Kafka and Redis, which everything else
        uses and which always come up: the benchmark asks for those two alone, so that an
        idle PostgreSQL, Prometheus scrapes and the gateway take no CPU from what it measures.
        A service left out is neither started nor stopped, and its endpoint is None.
        """
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}; known: {SERVICES}")
        with file_lock(self._lock_file):
            ports = Ports.load(self._ports_file)
            kafka_pid = redis_pid = postgres_pid = None
            if self.external_kafka is None:
                kafka_pid, ports = self._start_kafka(ports)
            if self.external_redis is None:
                redis_pid, ports = self._start_redis(ports)
            if "postgres" in services and self.external_postgres is None:
                postgres_pid, ports = self._start_postgres(ports)
            endpoints = self._endpoints(ports, postgres="postgres" in services)
            client = kafka_admin.client_config(self.settings.kafka) if self.external_kafka else {}
            self._await(
                "Redis",
                lambda: redis_ready(endpoints.redis_url),
                pid=redis_pid,
                node=self.redis,
                external=self.external_redis,
            )
            self._await(
                "Kafka",
                lambda: kafka_admin.broker_ready(endpoints.kafka_bootstrap, client_config=client),
                pid=kafka_pid,
                node=self.kafka,
                external=self.external_kafka,
            )
            if "postgres" in services:
                self._up_postgres(endpoints, ports, postgres_pid)
            if "prometheus" in services:
                # Started last: it only observes, and a failed Kafka or Redis stops `up` first.
                endpoints = self._up_prometheus(ports, endpoints)
        self._create_topics(endpoints.kafka_bootstrap, client)
        if self.settings.stack.gateway and "gateway" in services:
            with file_lock(self._lock_file):
                endpoints = self._up_gateway(endpoints)
        return endpoints

    def down(self, *, services: Collection[str] = SERVICES) -> tuple[str, ...]:
        """Stop the managed services named in ``services`` that we started; their names."""
        stopped: list[str] = []
        with file_lock(self._lock_file):
            for name, node, external in (
                ("gateway", self.gateway, None),  # first: it uses all the others
                ("kafka", self.kafka, self.external_kafka),
                ("redis", self.redis, self.external_redis),
                ("postgres", self.postgres, self.external_postgres),
                ("prometheus", self.prometheus, self.external_prometheus),
            ):
                if name not in services or external is not None:
                    continue
                pid = read_pid(node.pid_file)
                if pid is not None and stop_pid(pid, marker=node.marker, grace_s=30.0):
                    self._progress(f"Stopped {name} (pid {pid})")
                    stopped.append(name)
                remove_pid(node.pid_file)
                if name == "gateway":
                    self.gateway.write_targets(None)
        return tuple(stopped)

    def purge(self) -> tuple[str, ...]:
        """Stop every managed service, then delete their data (topics, database, TSDB).

        What was deleted, by service. External services are never touched.
        """
        self.down()
        purged: list[str] = []
        with file_lock(self._lock_file):
            if self.external_kafka is None and self.kafka.data_dir.exists():
                shutil.rmtree(self.kafka.data_dir)
                purged.append("kafka")
            if self.external_postgres is None and self.postgres.cluster.exists():
                self.postgres.remove_cluster()
                purged.append("postgres")
            if self.external_prometheus is None and self.prometheus.data_dir.exists():
                shutil.rmtree(self.prometheus.data_dir)
                purged.append("prometheus")
        return tuple(purged)

    def status(self) -> StackStatus:
        """What runs now and where; cheap (no start, no Kafka client)."""
        ports = Ports.load(self._ports_file)
        if self.external_kafka is not None:
            pairs = kafka_admin.parse_bootstrap(self.external_kafka)
            up = any(_reachable(host, port) for host, port in pairs)
            kafka = ServiceStatus("kafka", managed=False, running=up, endpoint=self.external_kafka)
        else:
            endpoint = f"{LOOPBACK}:{ports.kafka}" if ports.kafka else None
            kafka = self._managed_status("kafka", self.kafka, ports.kafka, endpoint)
        if self.external_redis is not None:
            parts = urlsplit(self.external_redis)
            up = _reachable(parts.hostname, parts.port or 6379)
            redis = ServiceStatus("redis", managed=False, running=up, endpoint=self.external_redis)
        else:
            endpoint = RedisNode.url(ports.redis) if ports.redis else None
            redis = self._managed_status("redis", self.redis, ports.redis, endpoint)
        if self.external_prometheus is not None:
            parts = urlsplit(self.external_prometheus)
            up = _reachable(parts.hostname, parts.port or 9090)
            prom = ServiceStatus(
                "prometheus", managed=False, running=up, endpoint=self.external_prometheus
            )
        else:
            endpoint = PrometheusNode.url(ports.prometheus) if ports.prometheus else None
            prom = self._managed_status("prometheus", self.prometheus, ports.prometheus, endpoint)
        if self.external_postgres is not None:
            parts = urlsplit(self.external_postgres)
            up = _reachable(parts.hostname, parts.port or 5432)
            postgres = ServiceStatus(
                "postgres", managed=False, running=up, endpoint=_redact(self.external_postgres)
            )
        else:
            endpoint = PostgresNode.url(ports.postgres) if ports.postgres else None
            postgres = self._managed_status("postgres", self.postgres, ports.postgres, endpoint)
        gateway = None
        if self.settings.stack.gateway or read_pid(self.gateway.pid_file) is not None:
            endpoint = GatewayNode.url(ports.gateway) if ports.gateway else None
            gateway = self._managed_status("gateway", self.gateway, ports.gateway, endpoint)
        return StackStatus(
            kafka=kafka,
            redis=redis,
            state_dir=self.state_dir,
            prometheus=prom,
            postgres=postgres,
            gateway=gateway,
        )

    # -- internals -------------------------------------------------------------------

    def _managed_status(
        self, name: ServiceName, node: Node, port: int | None, endpoint: str | None
    ) -> ServiceStatus:
        pid = read_pid(node.pid_file)
        running = pid is not None and owns(pid, node.marker)
        log = node.stdout_log if isinstance(node, KafkaNode) else node.log
        return ServiceStatus(
            name,
            managed=True,
            running=running,
            endpoint=endpoint,
            pid=pid if running else None,
            port=port,
            log=str(log),
        )

    def _running_pid(self, node: Node) -> int | None:
        pid = read_pid(node.pid_file)
        if pid is not None and owns(pid, node.marker):
            return pid
        remove_pid(node.pid_file)  # stale: the process is gone or the pid was reused
        return None

    def _pick(self, ports: Ports, name: str) -> Ports:
        current = getattr(ports, name)
        if current is None or port_in_use(current):
            ports = ports.with_port(name, free_port(exclude=ports.taken()))
        return ports

    def _start_kafka(self, ports: Ports) -> tuple[int | None, Ports]:
        if self._running_pid(self.kafka) is not None:
            return None, ports
        ports = self._pick(self._pick(ports, "kafka"), "kafka_controller")
        ports.save(self._ports_file)
        assert ports.kafka is not None and ports.kafka_controller is not None
        pid = self.kafka.start(
            port=ports.kafka, controller_port=ports.kafka_controller, progress=self._progress
        )
        write_pid(self.kafka.pid_file, pid)
        return pid, ports

    def _start_redis(self, ports: Ports) -> tuple[int | None, Ports]:
        if self._running_pid(self.redis) is not None:
            return None, ports
        ports = self._pick(ports, "redis")
        ports.save(self._ports_file)
        assert ports.redis is not None
        pid = self.redis.start(port=ports.redis, progress=self._progress)
        write_pid(self.redis.pid_file, pid)
        return pid, ports

    def _start_postgres(self, ports: Ports) -> tuple[int | None, Ports]:
        if self._running_pid(self.postgres) is not None:
            return None, ports
        ports = self._pick(ports, "postgres")
        ports.save(self._ports_file)
        assert ports.postgres is not None
        pid = self.postgres.start(port=ports.postgres, progress=self._progress)
        write_pid(self.postgres.pid_file, pid)
        return pid, ports

    def _up_postgres(self, endpoints: Endpoints, ports: Ports, pid: int | None) -> None:
        """Await the server, create the database, apply the schema migrations."""
        external = self.external_postgres
        assert endpoints.postgres_url is not None
        if external is None:
            assert ports.postgres is not None
            self._await(
                "PostgreSQL",
                lambda: postgres_ready(PostgresNode.url(ports.postgres or 0, "postgres")),
                pid=pid,
                node=self.postgres,
                external=None,
            )
            self.postgres.create_database(ports.postgres)
        else:
            self._await(
                "PostgreSQL",
                lambda: postgres_ready(external),
                pid=None,
                node=self.postgres,
                external=_redact(external),
            )
        try:
            applied = migrate(endpoints.postgres_url)
        except DatabaseError as exc:
            raise StackError(
                f"PostgreSQL is up but the schema could not be migrated: {exc}"
            ) from exc
        if applied:
            self._progress(f"Applied PostgreSQL migrations: {', '.join(applied)}")

    def _up_prometheus(self, ports: Ports, endpoints: Endpoints) -> Endpoints:
        """Start (unless external or running) and await the stack's Prometheus."""
        external = self.external_prometheus
        pid = None
        if external is None:
            self.prometheus.write_config()  # picks up a changed scrape interval or rules
            if self._running_pid(self.prometheus) is None:
                ports = self._pick(ports, "prometheus")
                ports.save(self._ports_file)
                assert ports.prometheus is not None
                pid = self.prometheus.start(port=ports.prometheus, progress=self._progress)
                write_pid(self.prometheus.pid_file, pid)
        url = external or PrometheusNode.url(ports.prometheus or 0)
        self._await(
            "Prometheus",
            lambda: prometheus_ready(url),
            pid=pid,
            node=self.prometheus,
            external=external,
        )
        return Endpoints(
            endpoints.kafka_bootstrap,
            endpoints.redis_url,
            prometheus_url=url,
            postgres_url=endpoints.postgres_url,
        )

    def _up_gateway(self, endpoints: Endpoints) -> Endpoints:
        """Start (unless running) and await the stack's HTTP gateway on a loopback port."""
        ports = Ports.load(self._ports_file)
        pid = None
        if self._running_pid(self.gateway) is None:
            ports = self._pick(ports, "gateway")
            ports.save(self._ports_file)
            assert ports.gateway is not None
            pid = self.gateway.start(
                port=ports.gateway, endpoints=endpoints, progress=self._progress
            )
            write_pid(self.gateway.pid_file, pid)
        url = GatewayNode.url(ports.gateway or 0)
        self._await(
            "The HTTP gateway",
            lambda: gateway_ready(url),
            pid=pid,
            node=self.gateway,
            external=None,
        )
        return replace(endpoints, gateway_url=url)

    def _endpoints(self, ports: Ports, *, postgres: bool = True) -> Endpoints:
        kafka = self.external_kafka or f"{LOOPBACK}:{ports.kafka}"
        redis_url = self.external_redis or RedisNode.url(ports.redis or 0)
        postgres_url = (
            (self.external_postgres or PostgresNode.url(ports.postgres or 0)) if postgres else None
        )
        return Endpoints(kafka_bootstrap=kafka, redis_url=redis_url, postgres_url=postgres_url)

    def _await(
        self,
        what: str,
        ready: Callable[[], bool],
        *,
        pid: int | None,
        node: Node,
        external: str | None,
    ) -> None:
        """Wait for ``ready``; a process we just started that dies or stalls is an error."""
        timeout_s = self.settings.stack.start_timeout_s
        died = False

        def check() -> bool:
            nonlocal died
            died = pid is not None and not is_running(pid)
            return died or ready()

        if wait_until(check, timeout_s=timeout_s, interval_s=0.5) and not died:
            return
        if external is not None:
            raise StackError(f"external {what} at {external} did not answer in {timeout_s:.0f}s")
        if pid is not None and not died:
            stop_pid(pid, marker=node.marker, grace_s=5.0)
        if pid is not None:
            remove_pid(node.pid_file)
        reason = "exited at start" if died else f"was not healthy after {timeout_s:.0f}s"
        raise StackError(f"{what} {reason}; log tail:\n{node.log_tail()}")

    def _create_topics(self, bootstrap: str, client_config: dict[str, str]) -> None:
        if not self.topics:
            return
        kafka = self.settings.kafka
        try:
            kafka_admin.ensure_topics(
                bootstrap,
                self.topics,
                partitions=kafka.partitions,
                replication_factor=kafka.replication_factor,
                retention_ms=kafka.retention_ms,
                client_config=client_config,
            )
        except InfrastructureError as exc:
            raise StackError(f"Kafka is up but the topics could not be created: {exc}") from exc

"""What the stack hands out and reports: endpoints, per-service status, remembered ports."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["Endpoints", "Ports", "ServiceStatus", "StackStatus"]

ServiceName = Literal["kafka", "redis", "postgres", "prometheus", "gateway"]


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where clients connect: Kafka bootstrap list, Redis URL, PostgreSQL, Prometheus and
    the HTTP gateway."""

    kafka_bootstrap: str
    redis_url: str
    prometheus_url: str | None = None
    postgres_url: str | None = None
    gateway_url: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One service of the stack.

    ``managed`` is True when the stack runs it as a local process, False for an external
    endpoint named in settings (then ``pid`` is None and ``running`` means reachable).
    """

    name: ServiceName
    managed: bool
    running: bool
    endpoint: str | None
    pid: int | None = None
    port: int | None = None
    log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StackStatus:
    """The endpoints in use and what is running; ``to_dict`` is the ``status --json`` shape."""

    kafka: ServiceStatus
    redis: ServiceStatus
    state_dir: Path
    prometheus: ServiceStatus | None = None
    postgres: ServiceStatus | None = None
    gateway: ServiceStatus | None = None

    @property
    def kafka_bootstrap(self) -> str | None:
        return self.kafka.endpoint

    @property
    def redis_url(self) -> str | None:
        return self.redis.endpoint

    @property
    def prometheus_url(self) -> str | None:
        return self.prometheus.endpoint if self.prometheus is not None else None

    @property
    def postgres_url(self) -> str | None:
        return self.postgres.endpoint if self.postgres is not None else None

    @property
    def gateway_url(self) -> str | None:
        return self.gateway.endpoint if self.gateway is not None else None

    @property
    def running(self) -> bool:
        return all(service.running for service in self.services)

    @property
    def services(self) -> tuple[ServiceStatus, ...]:
        extra = tuple(s for s in (self.postgres, self.prometheus, self.gateway) if s is not None)
        return (self.kafka, self.redis, *extra)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kafka_bootstrap": self.kafka_bootstrap,
            "redis_url": self.redis_url,
            "prometheus_url": self.prometheus_url,
            "postgres_url": self.postgres_url,
            "gateway_url": self.gateway_url,
            "running": self.running,
            "state_dir": str(self.state_dir),
            "services": {s.name: s.to_dict() for s in self.services},
        }


@dataclass(frozen=True, slots=True)
class Ports:
    """Loopback ports chosen at first start and remembered in the state directory."""

    kafka: int | None = None
    kafka_controller: int | None = None
    redis: int | None = None
    prometheus: int | None = None
    postgres: int | None = None
    gateway: int | None = None

    @classmethod
    def load(cls, path: Path) -> Ports:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return cls()
        ports = data.get("ports", {}) if isinstance(data, dict) else {}
        return cls(**{k: v for k, v in ports.items() if k in cls.__slots__ and isinstance(v, int)})

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"ports": asdict(self)}, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def with_port(self, name: str, port: int) -> Ports:
        return replace(self, **{name: port})

    def taken(self) -> tuple[int, ...]:
        ports = (
            self.kafka,
            self.kafka_controller,
            self.redis,
            self.prometheus,
            self.postgres,
            self.gateway,
        )
        return tuple(p for p in ports if p is not None)

"""Topic administration and broker readiness, shared by the stack, the workers and tests.

Every call builds its own ``AdminClient`` (no module-level clients). ``client_config``
carries extra librdkafka settings such as ``security.protocol`` or SASL credentials.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from shared.errors import InfrastructureError
from shared.settings import KafkaSettings

__all__ = ["broker_ready", "client_config", "delete_topics", "ensure_topics", "parse_bootstrap"]


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port`` pairs of a bootstrap list (``[v6]:port`` and ``PLAINTEXT://`` allowed)."""
    pairs: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        item = item.strip().rpartition("://")[2]
        host, _, port = item.rpartition(":")
        if host and port.isdigit():
            pairs.append((host.strip("[]"), int(port)))
    return pairs


def client_config(kafka: KafkaSettings) -> dict[str, str]:
    """librdkafka security settings from the settings tree (``security.protocol``, SASL)."""
    config = {"security.protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        config["sasl.mechanism"] = kafka.sasl_mechanism
    if kafka.sasl_username:
        config["sasl.username"] = kafka.sasl_username
    if kafka.sasl_password is not None:
        config["sasl.password"] = kafka.sasl_password.get_secret_value()
    return config


def _admin(bootstrap: str, client_config: Mapping[str, str] | None, **extra: int) -> AdminClient:
    config: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap}
    config.update(client_config or {})
    config.update(extra)
    return AdminClient(config)


def broker_ready(
    bootstrap: str, *, timeout_s: float = 5.0, client_config: Mapping[str, str] | None = None
) -> bool:
    """True when a broker of ``bootstrap`` accepts TCP and answers a metadata request."""
    reachable = False
    for host, port in parse_bootstrap(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=min(timeout_s, 2.0)):
                reachable = True
                break
        except OSError:
            continue
    if not reachable:
        return False
    # log_level 0: a probe that fails is an expected answer, not an error for stderr.
    admin = _admin(bootstrap, client_config, log_level=0)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int,
    retention_ms: int,
    timeout_s: float = 30,
    client_config: Mapping[str, str] | None = None,
) -> None:
    """Create ``topics`` that do not exist yet, then wait until each has a leader everywhere.

    Existing topics are left as they are (their partition count is not changed).
    Raises :class:`InfrastructureError` when the cluster refuses or does not answer.
    """
    names = list(dict.fromkeys(topics))
    if not names:
        return
    admin = _admin(bootstrap, client_config)
    config = {"retention.ms": str(retention_ms)}
    new = [NewTopic(name, partitions, replication_factor, config=config) for name in names]
    futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
    _settle(futures, ok=KafkaError.TOPIC_ALREADY_EXISTS, verb="create", timeout_s=timeout_s)
    _wait_for_leaders(admin, names, timeout_s=timeout_s)


def _settle(futures: dict[str, Future[None]], *, ok: int, verb: str, timeout_s: float) -> None:
    """Wait for each admin future; an error coded ``ok`` counts as success.

    ``exception()`` rather than ``result()``: a raised error's traceback would tie this frame
    (and the client) into a cycle, and the client would log reconnects until collected.
    """
    for name, future in futures.items():
        try:
            error = future.exception(timeout=timeout_s)
        except TimeoutError as exc:
            raise InfrastructureError(f"cannot {verb} topic {name!r}: timed out") from exc
        if error is None:
            continue
        if isinstance(error, KafkaException) and error.args[0].code() == ok:
            continue
        raise InfrastructureError(f"cannot {verb} topic {name!r}: {error}") from error


def _wait_for_leaders(admin: AdminClient, names: list[str], *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    missing = names
    while True:
        try:
            topics = admin.list_topics(timeout=max(1.0, deadline - time.monotonic())).topics
        except KafkaException as exc:
            raise InfrastructureError(f"cannot read cluster metadata: {exc}") from exc
        missing = [
            name
            for name in names
            if name not in topics
            or topics[name].error is not None
            or not topics[name].partitions
            or any(p.leader < 0 for p in topics[name].partitions.values())
        ]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if missing:
        raise InfrastructureError(f"topics without a leader after {timeout_s:.0f}s: {missing}")


def delete_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    timeout_s: float = 30,
    client_config: Mapping[str, str] | None = None,
) -> None:
    """Delete ``topics``; ones that do not exist are fine."""
    names = list(dict.fromkeys(topics))
    if not names:
        return
    admin = _admin(bootstrap, client_config)
    futures = admin.delete_topics(names, operation_timeout=timeout_s, request_timeout=timeout_s)
    _settle(futures, ok=KafkaError.UNKNOWN_TOPIC_OR_PART, verb="delete", timeout_s=timeout_s)

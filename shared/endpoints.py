"""Where Kafka, Redis and PostgreSQL are: settings first, else the running local stack."""

from __future__ import annotations

from shared.errors import ConfigurationError
from shared.settings import Settings
from shared.stack import LocalStack

__all__ = ["kafka_bootstrap", "postgres_url", "redis_url"]


def kafka_bootstrap(settings: Settings) -> str:
    """``kafka.bootstrap_servers`` from settings, else the local stack's broker if it runs."""
    if settings.kafka.bootstrap_servers:
        return settings.kafka.bootstrap_servers
    status = LocalStack(settings).status()
    if not (status.kafka.running and status.kafka_bootstrap):
        raise ConfigurationError(
            "no Kafka: set CLEARPATH_KAFKA__BOOTSTRAP_SERVERS or start the local stack "
            "with `clearpath stack up`"
        )
    return status.kafka_bootstrap


def redis_url(settings: Settings) -> str | None:
    """``redis.url`` from settings, else the local stack's Redis if it runs, else None.

    None rather than an error: Redis only backs the verdict cache, which is optional.
    """
    if settings.redis.url:
        return settings.redis.url
    status = LocalStack(settings).status()
    return status.redis_url if status.redis.running else None


def postgres_url(settings: Settings) -> str:
    """``postgres.url`` from settings, else the local stack's PostgreSQL if it runs."""
    if settings.postgres.url:
        return settings.postgres.url
    status = LocalStack(settings).status()
    if not (status.postgres is not None and status.postgres.running and status.postgres_url):
        raise ConfigurationError(
            "no PostgreSQL: set CLEARPATH_POSTGRES__URL or start the local stack "
            "with `clearpath stack up`"
        )
    return status.postgres_url

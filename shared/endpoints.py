"""Where the brokers and Redis are: settings first, else the running local stack."""

from __future__ import annotations

from shared.errors import ConfigurationError
from shared.settings import Settings
from shared.stack import LocalStack

__all__ = ["kafka_bootstrap"]


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

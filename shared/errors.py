"""The exception tree: what can go wrong, and where each kind of failure is sent.

    ClearpathError
    ├── PoisonMessage            input that can never succeed: dead-letter it, keep going
    │   ├── InvalidEncoding      bytes that are not UTF-8
    │   ├── InvalidJSON          not a JSON document
    │   ├── SchemaViolation      JSON that does not match the wire contract
    │   └── OversizeText         text over the documented size limit
    ├── ConfigurationError       bad settings or files: fail at start-up, loudly
    │   ├── PolicyError          a policy file that does not validate
    │   └── ProviderUnavailable  an explicitly requested execution provider cannot load
    ├── InfrastructureError      retryable: broker, cache or store unreachable
    │   ├── StackError           the local stack could not start or is unhealthy
    │   └── DatabaseError        PostgreSQL unreachable, or a query or migration failed
    ├── AppealTokenError         an appeal token that is forged, expired or mismatched
    └── AppealError              an appeal that cannot be filed or decided as asked
        ├── AppealNotFound       no such appeal for this tenant
        └── AppealConflict       an appeal that is not waiting for the review asked of it

Poison input is data with a destination (the dead-letter topic); infrastructure
errors are retried or surfaced; configuration errors stop the process before it
consumes anything.
"""

from __future__ import annotations

__all__ = [
    "AppealConflict",
    "AppealError",
    "AppealNotFound",
    "AppealTokenError",
    "ClearpathError",
    "ConfigurationError",
    "DatabaseError",
    "InfrastructureError",
    "InvalidEncoding",
    "InvalidJSON",
    "OversizeText",
    "PoisonMessage",
    "PolicyError",
    "ProviderUnavailable",
    "SchemaViolation",
    "StackError",
]


class ClearpathError(Exception):
    """Base of every error Clearpath raises on purpose."""


class PoisonMessage(ClearpathError):
    """A message that can never be processed; it goes to the dead-letter topic.

    ``error_type`` is a stable, low-cardinality name used in dead letters and metrics.
    """

    error_type = "poison"


class InvalidEncoding(PoisonMessage):
    error_type = "invalid_encoding"


class InvalidJSON(PoisonMessage):
    error_type = "invalid_json"


class SchemaViolation(PoisonMessage):
    error_type = "schema_violation"


class OversizeText(PoisonMessage):
    error_type = "oversize_text"


class ConfigurationError(ClearpathError):
    """Settings or files that make start-up impossible."""


class PolicyError(ConfigurationError):
    """A policy file failed validation; the message names the file and the field."""


class ProviderUnavailable(ConfigurationError):
    """An explicitly requested inference provider could not be loaded (never a silent fallback)."""


class InfrastructureError(ClearpathError):
    """A dependency (Kafka, Redis, a database) is unreachable; retry or surface."""


class StackError(InfrastructureError):
    """The local stack failed to start, or a service did not become healthy in time."""


class DatabaseError(InfrastructureError):
    """PostgreSQL is unreachable, or a statement or schema migration failed."""


class AppealTokenError(ClearpathError):
    """An appeal token failed verification: bad signature, expired, or for another request."""


class AppealError(ClearpathError):
    """An appeal that cannot be filed or decided as asked; ``reason`` is a stable name."""

    reason = "invalid_appeal"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class AppealNotFound(AppealError):
    reason = "not_found"


class AppealConflict(AppealError):
    reason = "not_queued"

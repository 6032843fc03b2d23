"""Connections and pools configured from :class:`~shared.settings.PostgresSettings`."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from shared.errors import DatabaseError
from shared.settings import PostgresSettings

__all__ = ["connect", "open_pool"]

APPLICATION_NAME = "clearpath"


def _options(settings: PostgresSettings) -> str:
    return f"-c statement_timeout={settings.statement_timeout_ms}"


def connect(
    url: str, settings: PostgresSettings | None = None, *, autocommit: bool = False
) -> psycopg.Connection:
    """One connection to ``url`` with the configured timeouts; DatabaseError if it fails."""
    config = settings or PostgresSettings()
    try:
        return psycopg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=max(1, round(config.connect_timeout_s)),
            options=_options(config),
            application_name=APPLICATION_NAME,
        )
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL: {exc}") from exc


def open_pool(url: str, settings: PostgresSettings | None = None, *, name: str) -> ConnectionPool:
    """An opened connection pool (waits for the first connection; DatabaseError on failure)."""
    config = settings or PostgresSettings()
    pool = ConnectionPool(
        url,
        min_size=min(config.pool_min, config.pool_max),
        max_size=config.pool_max,
        name=name,
        timeout=config.connect_timeout_s,
        kwargs={
            "connect_timeout": max(1, round(config.connect_timeout_s)),
            "options": _options(config),
            "application_name": f"{APPLICATION_NAME}-{name}",
        },
        open=False,
    )
    try:
        pool.open(wait=True, timeout=config.connect_timeout_s)
    except Exception as exc:  # psycopg_pool raises PoolTimeout; keep the cause
        pool.close()
        raise DatabaseError(f"cannot open a PostgreSQL pool: {exc}") from exc
    return pool

"""API keys of the HTTP gateway: generated, stored hashed, looked up per request.

A key reads ``cpk_<key_id>_<secret>``: ``key_id`` (12 hex digits) is the visible prefix
that names it in listings and logs; ``secret`` is 32 random bytes (base64url). Only the
SHA-256 of the whole key is stored — the key is high-entropy, so a fast hash is enough
(no password stretching) and a database leak reveals no usable key. The key is shown once,
when created. Each key belongs to one tenant and has one role.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

import limits
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.errors import DatabaseError

__all__ = [
    "KEY_PREFIX",
    "ROLES",
    "ApiKey",
    "KeyStore",
    "Role",
    "generate_key",
    "hash_key",
    "parse_key",
    "valid_rate_limit",
]

KEY_PREFIX: Final = "cpk"
Role = Literal["client", "reviewer", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
_KEY = re.compile(r"^cpk_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never the key itself)."""

    key_id: str
    tenant_id: str
    role: Role
    label: str | None
    rate_limit: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def prefix(self) -> str:
        """How the key starts: enough to recognise it, useless to use."""
        return f"{KEY_PREFIX}_{self.key_id}_"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def generate_key() -> tuple[str, str]:
    """A new ``(key_id, key)``."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key(key: str) -> str | None:
    """The key id of a well-formed key, or None."""
    match = _KEY.match(key)
    return match["id"] if match else None


def valid_rate_limit(text: str) -> bool:
    """Whether ``text`` reads as one rate limit (``100/minute``, ``5 per second``)."""
    try:
        limits.parse(text)
    except ValueError:
        return False
    return True


_ROLE_NAMES: Final[dict[str, Role]] = {role: role for role in ROLES}


def _row(row: dict[str, Any]) -> ApiKey:
    role = _ROLE_NAMES.get(row["role"])
    if role is None:
        raise DatabaseError(f"api key {row['key_id']} has an unknown role {row['role']!r}")
    return ApiKey(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        role=role,
        label=row["label"],
        rate_limit=row["rate_limit"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


_COLUMNS = "key_id, tenant_id, role, label, rate_limit, created_at, revoked_at"


class KeyStore:
    """The ``api_keys`` table (migration 0002) behind a connection pool."""

    def __init__(self, pool: ConnectionPool, *, clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock

    def create(
        self,
        *,
        tenant_id: str,
        role: Role,
        label: str | None = None,
        rate_limit: str | None = None,
    ) -> tuple[ApiKey, str]:
        """Store a new key; returns it and the key itself (shown once, never stored)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not tenant_id or len(tenant_id) > 128:
            raise ValueError("tenant id must be 1-128 characters")
        if rate_limit is not None and not valid_rate_limit(rate_limit):
            raise ValueError(f"not a rate limit: {rate_limit!r} (try '100/minute')")
        key_id, key = generate_key()
        row = self._one(
            f"INSERT INTO api_keys (key_id, tenant_id, role, key_sha256, label, rate_limit, "
            f"created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (key_id, tenant_id, role, hash_key(key), label, rate_limit, self._clock()),
        )
        assert row is not None
        return _row(row), key

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key ``key`` is, or None (malformed, unknown, revoked or wrong secret)."""
        key_id = parse_key(key)
        if key_id is None:
            return None
        row = self._one(f"SELECT {_COLUMNS}, key_sha256 FROM api_keys WHERE key_id = %s", (key_id,))
        if row is None or row["revoked_at"] is not None:
            return None
        if not hmac.compare_digest(str(row["key_sha256"]), hash_key(key)):
            return None
        return _row(row)

    def list_keys(
        self, *, tenant_id: str | None = None, include_revoked: bool = False
    ) -> list[ApiKey]:
        clauses: list[str] = []
        params: list[object] = []
        if tenant_id is not None:
            clauses.append("tenant_id = %s")
            params.append(tenant_id)
        if not include_revoked:
            clauses.append("revoked_at IS NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._all(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at", params)
        return [_row(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke ``key_id`` (a key id or a whole key); the key, or None if there is none."""
        key_id = parse_key(key_id) or key_id.removeprefix(f"{KEY_PREFIX}_").rstrip("_")
        row = self._one(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, %s) WHERE key_id = %s "
            f"RETURNING {_COLUMNS}",
            (self._clock(), key_id),
        )
        return None if row is None else _row(row)

    def _one(self, sql: str, params: tuple[object, ...]) -> dict[str, Any] | None:
        try:
            with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql.encode(), params)
                return cur.fetchone()
        except psycopg.Error as exc:
            raise DatabaseError(f"api key store: {exc}") from exc

    def _all(self, sql: str, params: list[object]) -> list[dict[str, Any]]:
        try:
            with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql.encode(), params)
                return cur.fetchall()
        except psycopg.Error as exc:
            raise DatabaseError(f"api key store: {exc}") from exc

"""Ordered SQL migrations with checksums (see the package docstring)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from shared.db.connect import connect
from shared.errors import DatabaseError

__all__ = ["MIGRATIONS_DIR", "Migration", "migrate", "migrations", "pending"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every caller of migrate().
_LOCK_KEY = 0x636C6561  # "clea"

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str  # the file name without .sql, e.g. "0001_audit"
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def migrations(directory: Path = MIGRATIONS_DIR) -> tuple[Migration, ...]:
    """Every migration file in order; a misnamed file or a duplicate number is an error."""
    found: list[Migration] = []
    numbers: set[str] = set()
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise DatabaseError(f"migration file {path.name!r} is not named NNNN_name.sql")
        if match.group(1) in numbers:
            raise DatabaseError(f"two migrations share the number {match.group(1)}")
        numbers.add(match.group(1))
        found.append(Migration(path.stem, path.read_text(encoding="utf-8")))
    return tuple(found)


def _applied(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
    return {str(version): str(checksum) for version, checksum in rows}


def pending(url: str, directory: Path = MIGRATIONS_DIR) -> tuple[str, ...]:
    """Versions not yet applied to the database at ``url``."""
    with connect(url) as conn:
        conn.execute(_BOOKKEEPING)
        applied = _applied(conn)
    return tuple(m.version for m in migrations(directory) if m.version not in applied)


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> tuple[str, ...]:
    """Apply the pending migrations in order; the versions applied now.

    A migration already applied whose file has since changed is an error: the schema in the
    database would silently differ from the one in the repository.
    """
    done: list[str] = []
    try:
        with connect(url) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(_BOOKKEEPING)
            applied = _applied(conn)
            for migration in migrations(directory):
                previous = applied.get(migration.version)
                if previous is not None:
                    if previous != migration.checksum:
                        raise DatabaseError(
                            f"migration {migration.version} was changed after it was "
                            "applied; add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode("utf-8"))
                    conn.execute(
                        "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                        (migration.version, migration.checksum),
                    )
                done.append(migration.version)
    except psycopg.Error as exc:
        raise DatabaseError(f"migration failed: {exc}") from exc
    return tuple(done)

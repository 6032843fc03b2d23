"""PostgreSQL access: connections and pools from settings, and the schema migrations.

The schema lives in ``shared/db/migrations/NNNN_name.sql``, applied in order, each in its own
transaction, recorded in ``schema_migrations`` with its checksum. ``migrate`` is idempotent and
safe to race (an advisory lock serialises concurrent callers); every service that needs the
database calls it at start, and ``clearpath stack up`` calls it once the server answers.
"""

from shared.db.connect import connect, open_pool
from shared.db.migrate import MIGRATIONS_DIR, Migration, migrate, migrations, pending

__all__ = [
    "MIGRATIONS_DIR",
    "Migration",
    "connect",
    "migrate",
    "migrations",
    "open_pool",
    "pending",
]

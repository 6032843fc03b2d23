"""The local PostgreSQL: the OS package's server run as our own foreground process.

PostgreSQL refuses to run as root. When the stack runs as root, the cluster belongs to the
package's ``postgres`` system user and lives under ``/var/lib/clearpath/postgres/<id>``
(a root-only home directory is not traversable by that user); the server is started with
``setpriv``, which execs in place, so the pid we record is the server's own. Otherwise the
cluster lives in the state directory and runs as the calling user.

Authentication is ``trust`` on the loopback interface and a private Unix socket directory:
this is a development stack, bound to 127.0.0.1 like its Kafka and Redis. Production points
``CLEARPATH_POSTGRES__URL`` at a managed server with real credentials.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg

from shared.errors import StackError
from shared.stack.process import LOOPBACK, spawn_detached, tail
from shared.stack.redis import _apt

__all__ = ["PostgresNode", "ensure_postgres", "postgres_ready"]

SYSTEM_USER = "postgres"
SUPERUSER = "clearpath"
DATABASE = "clearpath"
INITDB_TIMEOUT_S = 120.0


def _bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` with a server, else ``postgres`` on PATH."""
    found = shutil.which("postgres")
    if found is not None:
        return Path(found).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    if not candidates:
        return None
    newest = max(candidates, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    return Path(newest).parent


def ensure_postgres(
    *, install: bool = True, progress: Callable[[str], None] = lambda _: None
) -> Path:
    """Directory holding ``postgres`` and ``initdb``; installs the OS package when missing."""
    found = _bin_dir()
    if found is not None:
        return found
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            "PostgreSQL is not installed: install the OS package `postgresql` "
            "(e.g. `sudo apt-get install -y postgresql`), or set CLEARPATH_POSTGRES__URL"
        )
    progress("Installing postgresql (apt-get)")
    done = _apt(["install", "-y", "--no-install-recommends", "postgresql"])
    if done.returncode != 0:
        _apt(["update"])
        done = _apt(["install", "-y", "--no-install-recommends", "postgresql"])
    found = _bin_dir()
    if done.returncode != 0 or found is None:
        detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise StackError(f"could not install postgresql with apt-get:\n{detail}")
    return found


def postgres_ready(url: str, *, timeout_s: float = 2.0) -> bool:
    """True when the server at ``url`` accepts a connection and answers a query."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout_s))) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


class PostgresNode:
    """Files and command of the stack's PostgreSQL cluster (see the module docstring)."""

    def __init__(self, *, state_dir: Path, install: bool = True) -> None:
        self.home = state_dir / "postgres"
        self.install = install
        self.pid_file = self.home / "postgres.pid"
        self.log = self.home / "postgres.log"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            key = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
            self.cluster = Path("/var/lib/clearpath/postgres") / key
        else:
            self.cluster = self.home / "cluster"
        self.data_dir = self.cluster / "data"
        self.socket_dir = self.cluster / "run"

    @property
    def marker(self) -> str:
        """Text on the server's command line that proves the process is this node."""
        return f"-D {self.data_dir}"

    @staticmethod
    def url(port: int, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{port}/{database}"

    def _owner(self) -> tuple[int, int] | None:
        if not self.as_root:
            return None
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError as exc:
            raise StackError(
                f"running as root needs the `{SYSTEM_USER}` system user that the postgresql "
                "package creates; install the package or run the stack as a normal user"
            ) from exc
        return entry.pw_uid, entry.pw_gid

    def _as_owner(self, argv: list[str]) -> list[str]:
        if not self.as_root:
            return argv
        return [
            "setpriv",
            f"--reuid={SYSTEM_USER}",
            f"--regid={SYSTEM_USER}",
            "--init-groups",
            *argv,
        ]

    def _prepare(self, bin_dir: Path, progress: Callable[[str], None]) -> None:
        """Create the cluster once (initdb) with our superuser; directories owned right."""
        self.home.mkdir(parents=True, exist_ok=True)
        owner = self._owner()
        for directory in (self.cluster, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            if owner is not None:
                os.chown(directory, *owner)
        if (self.data_dir / "PG_VERSION").exists():
            return
        progress(f"Creating the PostgreSQL cluster in {self.data_dir}")
        argv = self._as_owner(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=INITDB_TIMEOUT_S,
                check=False,
                cwd=self.cluster,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StackError(f"initdb failed: {exc}") from exc
        if done.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise StackError(f"initdb failed:\n{detail}")

    def start(self, *, port: int, progress: Callable[[str], None]) -> int:
        """Spawn ``postgres`` on ``port`` (loopback only); its pid."""
        bin_dir = ensure_postgres(install=self.install, progress=progress)
        self._prepare(bin_dir, progress)
        argv = self._as_owner(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(port),
                "-c",
                f"listen_addresses={LOOPBACK}",
                "-c",
                f"unix_socket_directories={self.socket_dir}",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=64MB",
                "-c",
                "log_min_messages=warning",
            ]
        )
        progress(f"Starting PostgreSQL on {LOOPBACK}:{port}")
        # The log lives in the (root-owned) state dir: the shell that spawns the server
        # opens it before dropping privileges, so the server only inherits the descriptor.
        return spawn_detached(argv, log_path=self.log, cwd=self.cluster)

    def create_database(self, port: int) -> None:
        """Create the application database unless it exists."""
        admin = self.url(port, database="postgres")
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
                ).fetchone()
                if exists is None:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
        except psycopg.Error as exc:
            raise StackError(
                f"PostgreSQL is up but the database could not be created: {exc}"
            ) from exc

    def remove_cluster(self) -> None:
        """Delete the cluster's files (the server must be stopped): ``stack down --purge``."""
        shutil.rmtree(self.cluster, ignore_errors=True)
        if self.as_root:
            with contextlib.suppress(OSError):
                self.cluster.parent.rmdir()  # only when no other stack's cluster is left

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

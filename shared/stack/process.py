"""Local processes of the stack: pid files, detached spawning, stop-by-pid, ports, waiting.

Every process the stack starts carries its state directory on its command line; that
marker is how :func:`owns` tells our process from a stranger that reused the pid, and
nothing is ever signalled without it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from shared.errors import StackError

__all__ = [
    "cmdline",
    "file_lock",
    "free_port",
    "is_running",
    "owns",
    "port_in_use",
    "read_pid",
    "remove_pid",
    "spawn_detached",
    "stop_pid",
    "tail",
    "wait_until",
    "write_pid",
]

LOOPBACK = "127.0.0.1"

# `sh` starts the command in the background and exits at once: the command is re-parented
# (no zombie, no Popen object left in this process) and `$!` is its pid.
_SPAWN_SCRIPT = 'cd "$CLEARPATH_CWD" && "$@" </dev/null >>"$CLEARPATH_LOG" 2>&1 & echo $!'


def read_pid(path: Path) -> int | None:
    """The pid stored in ``path``, or None when the file is missing or unreadable."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def write_pid(path: Path, pid: int) -> None:
    """Store ``pid`` atomically (write a sibling, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{pid}\n", encoding="ascii")
    tmp.replace(path)


def remove_pid(path: Path) -> None:
    path.unlink(missing_ok=True)


def cmdline(pid: int) -> str | None:
    """The command line of ``pid`` with spaces between arguments, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a dead child nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    state = stat.rpartition(")")[2].split()[:1]
    return bool(state) and state[0] not in ("Z", "X")


def owns(pid: int, marker: str) -> bool:
    """True when ``pid`` is running and its command line contains ``marker``."""
    line = cmdline(pid)
    return is_running(pid) and line is not None and marker in line


def spawn_detached(
    argv: Sequence[str], *, log_path: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start ``argv`` in its own session, output appended to ``log_path``; return its pid.

    The process outlives this one (the CLI exits right after ``stack up``).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = dict(os.environ if env is None else env)
    child_env.update(CLEARPATH_LOG=str(log_path), CLEARPATH_CWD=str(cwd))
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", _SPAWN_SCRIPT, "clearpath-spawn", *argv],
            env=child_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            start_new_session=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"could not start {argv[0]}: {exc}") from exc
    pid_text = done.stdout.strip()
    if done.returncode != 0 or not pid_text.isdigit():
        raise StackError(f"could not start {argv[0]}: {done.stderr.strip() or 'no pid'}")
    return int(pid_text)


def stop_pid(pid: int, *, marker: str, grace_s: float = 30.0) -> bool:
    """SIGTERM ``pid``, wait up to ``grace_s``, then SIGKILL. True if it was ours and stopped.

    Refuses (returns False without signalling) when the pid is not running or its command
    line lacks ``marker``: a recycled pid belongs to someone else.
    """
    if not owns(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not is_running(pid), timeout_s=grace_s, interval_s=0.2):
        return True
    if owns(pid, marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if not wait_until(lambda: not is_running(pid), timeout_s=10.0, interval_s=0.1):
        raise StackError(f"process {pid} survived SIGKILL")
    return True


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when something listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def free_port(host: str = LOOPBACK, *, exclude: Sequence[int] = ()) -> int:
    """A TCP port nobody listens on now (the kernel's pick), not one of ``exclude``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port
    raise StackError("no free TCP port on the loopback interface")


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.5) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval_s, remaining))


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            data = handle.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (one ``up``/``down`` at a time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

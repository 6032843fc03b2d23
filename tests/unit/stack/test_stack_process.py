"""Pid files, liveness, ownership checks, stop-by-pid, ports and waiting (no JVM)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stack import process


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A detached process whose command line carries a marker; killed at teardown."""
    marker = str(tmp_path / "marker.conf")
    argv = [sys.executable, "-c", "import time; time.sleep(120)", marker]
    pid = process.spawn_detached(argv, log_path=tmp_path / "sleeper.log", cwd=tmp_path)
    assert process.wait_until(lambda: process.owns(pid, marker), timeout_s=10, interval_s=0.05)
    yield pid, marker
    if process.owns(pid, marker):
        os.kill(pid, 9)


def test_pid_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "svc.pid"
    assert process.read_pid(path) is None
    process.write_pid(path, 4242)
    assert process.read_pid(path) == 4242
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    process.remove_pid(path)
    process.remove_pid(path)  # idempotent
    assert not path.exists()


@pytest.mark.parametrize("content", ["", "abc", "-5", "0", "12 34", "\xff"])
def test_unreadable_pid_file_reads_as_none(tmp_path: Path, content: str) -> None:
    path = tmp_path / "svc.pid"
    path.write_bytes(content.encode("latin-1"))
    assert process.read_pid(path) is None


def test_liveness_of_this_and_missing_processes() -> None:
    assert process.is_running(os.getpid())
    assert process.cmdline(os.getpid()) is not None
    missing = 2**22 + 17  # above the default pid_max
    assert not process.is_running(missing)
    assert process.cmdline(missing) is None
    assert not process.owns(missing, "anything")


def test_spawn_detached_returns_the_command_pid_and_logs(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    pid = process.spawn_detached(
        [sys.executable, "-c", "print('hello from child')"], log_path=log, cwd=tmp_path
    )
    assert pid > 0
    assert process.wait_until(lambda: "hello from child" in process.tail(log), timeout_s=10)


def test_spawned_process_is_not_our_child(sleeper: tuple[int, str]) -> None:
    pid, _ = sleeper
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert os.getsid(pid) != os.getsid(0)  # its own session: outlives the CLI's terminal


def test_stop_pid_refuses_a_foreign_pid(sleeper: tuple[int, str], tmp_path: Path) -> None:
    pid, _ = sleeper
    assert not process.stop_pid(pid, marker=str(tmp_path / "other-state"), grace_s=1)
    assert process.is_running(pid)
    # This test process itself never carries a stack marker.
    assert not process.stop_pid(os.getpid(), marker=str(tmp_path / "marker.conf"), grace_s=1)


def test_stop_pid_stops_our_process(sleeper: tuple[int, str]) -> None:
    pid, marker = sleeper
    started = time.monotonic()
    assert process.stop_pid(pid, marker=marker, grace_s=10)
    assert time.monotonic() - started < 10  # SIGTERM sufficed
    assert not process.is_running(pid)
    assert not process.stop_pid(pid, marker=marker, grace_s=1)  # already gone: no-op


def test_stop_pid_escalates_to_sigkill(tmp_path: Path) -> None:
    marker = str(tmp_path / "stubborn.conf")
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    pid = process.spawn_detached(
        [sys.executable, "-c", code, marker], log_path=tmp_path / "s.log", cwd=tmp_path
    )
    assert process.wait_until(lambda: process.owns(pid, marker), timeout_s=10, interval_s=0.05)
    time.sleep(0.3)  # let it install the handler
    assert process.stop_pid(pid, marker=marker, grace_s=0.5)
    assert not process.is_running(pid)


def test_free_port_is_free_and_avoids_exclusions() -> None:
    port = process.free_port()
    assert 0 < port < 65536
    assert not process.port_in_use(port)
    assert process.free_port(exclude=[port]) != port


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as server:
        server.bind((process.LOOPBACK, 0))
        server.listen()
        port = server.getsockname()[1]
        assert process.port_in_use(port)


def test_wait_until() -> None:
    calls = iter([False, False, True])
    assert process.wait_until(lambda: next(calls), timeout_s=5, interval_s=0.01)
    started = time.monotonic()
    assert not process.wait_until(lambda: False, timeout_s=0.2, interval_s=0.05)
    assert time.monotonic() - started < 2


def test_tail(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    assert process.tail(log) == ""
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert process.tail(log, 3) == "line 97\nline 98\nline 99"


def test_file_lock_is_released_on_exit(tmp_path: Path) -> None:
    lock = tmp_path / "dir" / "stack.lock"
    with process.file_lock(lock):
        assert lock.exists()
    with process.file_lock(lock):
        pass


def test_a_zombie_is_not_running(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path)])
    try:
        child.kill()
        assert process.wait_until(
            lambda: not process.is_running(child.pid), timeout_s=10, interval_s=0.05
        )
        assert not process.owns(child.pid, str(tmp_path))  # unreaped, its pid still exists
        os.kill(child.pid, 0)
    finally:
        child.wait()

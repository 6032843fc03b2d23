"""``clearpath stack`` through a fresh Typer app: the ``status --json`` shape and errors."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from services.cli.stack import register
from shared.stack import process
from shared.stack.models import Ports


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_status_json_shape_for_a_fresh_state_dir(tmp_path: Path) -> None:
    env = {"CLEARPATH_STACK__STATE_DIR": str(tmp_path)}
    result = CliRunner().invoke(_app(), ["stack", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"kafka_bootstrap", "redis_url", "running", "state_dir", "services"} <= data.keys()
    assert data["prometheus_url"] is None
    assert data["kafka_bootstrap"] is None and data["redis_url"] is None
    assert data["running"] is False
    for name in ("kafka", "redis", "prometheus"):
        service = data["services"][name]
        assert {"managed", "running", "pid", "port", "endpoint"} <= service.keys()
        assert service["managed"] is True and service["running"] is False
        assert service["pid"] is None


def test_status_json_reports_remembered_ports_and_external_endpoints(tmp_path: Path) -> None:
    Ports(kafka=19092, kafka_controller=19093, redis=16379).save(tmp_path / "ports.json")
    free = process.free_port()
    env = {
        "CLEARPATH_STACK__STATE_DIR": str(tmp_path),
        "CLEARPATH_REDIS__URL": f"redis://127.0.0.1:{free}/1",
    }
    result = CliRunner().invoke(_app(), ["stack", "status", "--json"], env=env)
    data = json.loads(result.stdout)
    assert data["kafka_bootstrap"] == "127.0.0.1:19092"
    assert data["services"]["kafka"]["port"] == 19092
    assert data["redis_url"] == f"redis://127.0.0.1:{free}/1"
    assert data["services"]["redis"]["managed"] is False
    assert data["services"]["redis"]["running"] is False


def test_human_status_and_down_with_nothing_running(tmp_path: Path) -> None:
    env = {"CLEARPATH_STACK__STATE_DIR": str(tmp_path), "COLUMNS": "120"}
    status = CliRunner().invoke(_app(), ["stack", "status"], env=env)
    assert status.exit_code == 0 and "kafka" in status.stdout and "stopped" in status.stdout
    down = CliRunner().invoke(_app(), ["stack", "down", "--json"], env=env)
    assert down.exit_code == 0
    assert json.loads(down.stdout)["stopped"] == []


def test_up_failure_exits_1_with_the_reason(tmp_path: Path) -> None:
    free = process.free_port()
    env = {
        "CLEARPATH_STACK__STATE_DIR": str(tmp_path),
        "CLEARPATH_STACK__START_TIMEOUT_S": "0.3",
        "CLEARPATH_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free}",
        "CLEARPATH_REDIS__URL": f"redis://127.0.0.1:{free}/0",
        "CLEARPATH_POSTGRES__URL": f"postgresql://u@127.0.0.1:{free}/db",
    }
    result = CliRunner().invoke(_app(), ["stack", "up", "--json"], env=env)
    assert result.exit_code == 1
    assert "did not answer" in result.stderr
    assert result.stdout == ""

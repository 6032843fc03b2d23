"""deploy/prometheus through promtool: the config, the rules, and the rules' unit tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shared.errors import StackError
from shared.stack.prometheus import ensure_prometheus

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    """promtool from the OS package ``prometheus`` (installed like the stack installs it)."""
    try:
        return ensure_prometheus()[1]
    except StackError as exc:
        pytest.fail(f"promtool is required: {exc}", pytrace=False)


def _run(promtool: str, *args: str) -> str:
    done = subprocess.run(
        [promtool, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_config_is_valid(promtool: str) -> None:
    assert "SUCCESS" in _run(promtool, "check", "config", "prometheus.yml")


def test_rules_are_valid(promtool: str) -> None:
    out = _run(promtool, "check", "rules", *map(str, sorted(DEPLOY.glob("rules/*.yml"))))
    assert "SUCCESS" in out


def test_every_alert_has_a_unit_test_firing(promtool: str) -> None:
    tests = sorted(DEPLOY.glob("tests/*.yml"))
    assert tests
    _run(promtool, "test", "rules", *map(str, tests))
    alerts = {
        line.split(":", 1)[1].strip()
        for rules in DEPLOY.glob("rules/*.yml")
        for line in rules.read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    tested = "\n".join(t.read_text() for t in tests)
    for alert in alerts:
        fired = f"alertname: {alert}\n        exp_alerts:\n          - exp_labels"
        quiet = f"alertname: {alert}\n        exp_alerts: []"
        assert fired in tested, f"{alert} is never tested firing"
        assert quiet in tested, f"{alert} is never tested staying silent"


def test_local_config_renders_valid(promtool: str, tmp_path: Path) -> None:
    from shared.stack.kafka import default_deploy_dir
    from shared.stack.prometheus import PrometheusNode

    node = PrometheusNode(
        state_dir=tmp_path, deploy_dir=default_deploy_dir(), scrape_interval_s=1.0
    )
    node.write_config()
    assert "SUCCESS" in _run(promtool, "check", "config", str(node.config))

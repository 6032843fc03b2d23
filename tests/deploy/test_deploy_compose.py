"""compose.yaml through the real Compose binary (`docker compose config`: no engine needed)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.deploy.generated import ROOT
from tests.deploy.tools import compose_binary

WORKERS = ("detection", "policy", "response")


def _config(*args: str, secret: str | None = "s3cret") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CLEARPATH_APPEAL_SECRET"}
    if secret is not None:
        env["CLEARPATH_APPEAL_SECRET"] = secret
    return subprocess.run(
        [
            str(compose_binary()),
            "-f",
            str(ROOT / "compose.yaml"),
            *args,
            "config",
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    done = _config("--profile", "observability", "--profile", "gpu")
    assert done.returncode == 0, done.stderr
    rendered: dict[str, Any] = json.loads(done.stdout)
    return rendered


def test_renders_without_profiles_to_the_pipeline_only() -> None:
    done = _config()
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["services"]) == {"kafka", "kafka-init", "redis", *WORKERS}


def test_missing_appeal_secret_fails_fast_with_a_clear_message() -> None:
    done = _config(secret=None)
    assert done.returncode != 0
    assert "set CLEARPATH_APPEAL_SECRET" in done.stderr


def test_profiles_add_gpu_detection_and_observability(full: dict[str, Any]) -> None:
    services = full["services"]
    assert {"prometheus", "grafana", "detection-gpu"} <= set(services)
    gpu = services["detection-gpu"]
    assert gpu["build"]["dockerfile"] == "deploy/docker/Dockerfile.cuda"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"capabilities": ["gpu"], "driver": "nvidia", "count": 1}]
    assert gpu["environment"]["CLEARPATH_MODEL__PROVIDER"] == "cuda"


def test_workers_wait_for_topics_and_expose_fixed_metrics(full: dict[str, Any]) -> None:
    services = full["services"]
    workers = [name for name in services if name.split("-")[0] in WORKERS]
    ids = [services[name]["environment"]["CLEARPATH_WORKER__INSTANCE_ID"] for name in workers]
    assert len(set(ids)) == len(workers) == 4
    for name in workers:
        svc = services[name]
        env = svc["environment"]
        assert svc["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
        assert env["CLEARPATH_WORKER__METRICS_PORT"] == "9100"
        assert env["CLEARPATH_WORKER__METRICS_HOST"] == "0.0.0.0"
        assert env["CLEARPATH_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["CLEARPATH_RESPONSE__APPEAL_SECRET"] == "s3cret"
        assert "9100/healthz" in " ".join(svc["healthcheck"]["test"])
        assert svc["read_only"] is True and svc["user"] == "10001:10001"


def test_kafka_is_a_transaction_ready_single_node(full: dict[str, Any]) -> None:
    kafka = full["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    init = full["services"]["kafka-init"]
    assert "--partitions 3" in " ".join(init["command"])


def test_prometheus_and_grafana_are_provisioned_from_deploy(full: dict[str, Any]) -> None:
    mounts = {
        name: {
            v["source"].removeprefix(str(ROOT) + "/"): v["target"]
            for v in full["services"][name]["volumes"]
        }
        for name in ("prometheus", "grafana")
    }
    assert mounts["prometheus"] == {
        "deploy/prometheus/prometheus.compose.yml": "/etc/prometheus/prometheus.yml",
        "deploy/prometheus/rules": "/etc/prometheus/rules",
    }
    assert mounts["grafana"]["deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["grafana"]["deploy/grafana/dashboards"] == "/var/lib/grafana/dashboards"


def test_every_image_is_pinned(full: dict[str, Any]) -> None:
    for name, svc in full["services"].items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_compose_prometheus_config_is_valid() -> None:
    from shared.errors import StackError
    from shared.stack.prometheus import ensure_prometheus

    try:
        promtool = ensure_prometheus()[1]
    except StackError as exc:
        pytest.fail(f"promtool is required: {exc}", pytrace=False)
    done = subprocess.run(
        [promtool, "check", "config", "prometheus.compose.yml"],
        cwd=ROOT / "deploy" / "prometheus",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

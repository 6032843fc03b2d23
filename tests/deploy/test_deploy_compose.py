"""compose.yaml through the real Compose binary (`docker compose config`: no engine needed)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared import topics
from tests.deploy.generated import ROOT
from tests.deploy.manifests import CONSUMERS, SECRET_REFS, WORKLOADS, Workload
from tests.deploy.tools import compose_binary

#: Every Clearpath service the default profile runs (one per workload of the table), and the
#: ports they serve health on.
CLEARPATH = {name: w.port_number for name, w in WORKLOADS.items()}
#: The variables compose requires (`:?`), each with the value the tests give it.
SECRETS = {
    "CLEARPATH_APPEAL_SECRET": "s3cret",
    "CLEARPATH_AUDIT_HASH_SECRET": "h4sh",
    "CLEARPATH_POSTGRES_PASSWORD": "pgpw",
}
SECRET_SETTINGS = set(SECRET_REFS)


def _workload(service: str) -> Workload:
    """The table's row for a compose service (`detection-gpu` is detection on a GPU)."""
    return WORKLOADS[service.removesuffix("-gpu")]


def _config(*args: str, missing: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env.update({k: v for k, v in SECRETS.items() if k != missing})
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
    services = set(json.loads(done.stdout)["services"])
    assert services == {"kafka", "kafka-init", "redis", "postgres", *CLEARPATH}


@pytest.mark.parametrize("variable", sorted(SECRETS))
def test_a_missing_secret_fails_fast_with_a_clear_message(variable: str) -> None:
    done = _config(missing=variable)
    assert done.returncode != 0
    assert f"set {variable}" in done.stderr


def test_profiles_add_gpu_detection_and_observability(full: dict[str, Any]) -> None:
    services = full["services"]
    assert {"prometheus", "grafana", "detection-gpu"} <= set(services)
    gpu = services["detection-gpu"]
    assert gpu["build"]["dockerfile"] == "deploy/docker/Dockerfile.cuda"
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"capabilities": ["gpu"], "driver": "nvidia", "count": 1}]
    assert gpu["environment"]["CLEARPATH_MODEL__PROVIDER"] == "cuda"


def _clearpath(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services running the Clearpath image (GPU detection included)."""
    return {n: s for n, s in services.items() if s["image"].startswith("clearpath/worker")}


def test_clearpath_services_are_locked_down_and_wait_for_topics(full: dict[str, Any]) -> None:
    services = _clearpath(full["services"])
    assert set(services) == {*CLEARPATH, "detection-gpu"}
    for name, svc in services.items():
        env = svc["environment"]
        assert svc["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
        assert env["CLEARPATH_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert svc["read_only"] is True and svc["user"] == "10001:10001", name
        assert svc["cap_drop"] == ["ALL"] and "no-new-privileges:true" in svc["security_opt"]
        assert svc["tmpfs"] == ["/tmp"]
        assert svc["restart"] == "unless-stopped"
        port = CLEARPATH[name.removesuffix("-gpu")]
        assert f"127.0.0.1:{port}/healthz" in " ".join(svc["healthcheck"]["test"]), name


def test_kafka_workers_have_ids_and_fixed_metrics(full: dict[str, Any]) -> None:
    services = _clearpath(full["services"])
    workers = {n: s for n, s in services.items() if _workload(n).consumes is not None}
    ids = [s["environment"]["CLEARPATH_WORKER__INSTANCE_ID"] for s in workers.values()]
    assert len(set(ids)) == len(workers) == len(CONSUMERS) + 1  # + detection-gpu
    for svc in workers.values():
        env = svc["environment"]
        assert env["CLEARPATH_WORKER__METRICS_PORT"] == "9100"
        assert env["CLEARPATH_WORKER__METRICS_HOST"] == "0.0.0.0"


def test_each_service_gets_exactly_its_secrets(full: dict[str, Any]) -> None:
    services = _clearpath(full["services"])
    for name, svc in services.items():
        workload = _workload(name)
        env = svc["environment"]
        assert SECRET_SETTINGS & set(env) == workload.secrets, name
        if "CLEARPATH_RESPONSE__APPEAL_SECRET" in env:
            assert env["CLEARPATH_RESPONSE__APPEAL_SECRET"] == SECRETS["CLEARPATH_APPEAL_SECRET"]
        if "CLEARPATH_AUDIT__HASH_SECRET" in env:
            assert env["CLEARPATH_AUDIT__HASH_SECRET"] == SECRETS["CLEARPATH_AUDIT_HASH_SECRET"]
        assert ("CLEARPATH_POSTGRES__URL" in env) is workload.postgres, name
        if workload.postgres:
            url = urlsplit(env["CLEARPATH_POSTGRES__URL"])
            assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
            assert url.password == SECRETS["CLEARPATH_POSTGRES_PASSWORD"]
            assert url.username == full["services"]["postgres"]["environment"]["POSTGRES_USER"]
            assert url.path == "/" + full["services"]["postgres"]["environment"]["POSTGRES_DB"]
            assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        else:
            assert "postgres" not in svc["depends_on"], name
        # Redis backs the verdict cache and the gateway's rate limits; no one else uses it.
        assert ("CLEARPATH_REDIS__URL" in env) is workload.redis, name
        if workload.redis:
            assert svc["depends_on"]["redis"]["condition"] == "service_healthy", name
        else:
            assert "redis" not in svc["depends_on"], name


def test_postgres_is_pinned_checked_persistent_and_password_protected(
    full: dict[str, Any],
) -> None:
    pg = full["services"]["postgres"]
    image = pg["image"]
    assert image.startswith("postgres:") and image.split(":")[1][0].isdigit()
    env = pg["environment"]
    assert env["POSTGRES_PASSWORD"] == SECRETS["CLEARPATH_POSTGRES_PASSWORD"]
    assert "POSTGRES_HOST_AUTH_METHOD" not in env  # never `trust`
    test = " ".join(pg["healthcheck"]["test"])
    assert "pg_isready" in test and env["POSTGRES_DB"] in test and env["POSTGRES_USER"] in test
    (volume,) = pg["volumes"]
    assert volume["type"] == "volume" and volume["target"] == "/var/lib/postgresql/data"
    assert volume["source"] in full["volumes"]
    (port,) = pg["ports"]
    assert (port["host_ip"], port["target"]) == ("127.0.0.1", 5432)


def test_gateway_listens_on_all_interfaces_published_on_localhost(full: dict[str, Any]) -> None:
    gateway = full["services"]["gateway"]
    env = gateway["environment"]
    assert env["CLEARPATH_GATEWAY__HOST"] == "0.0.0.0"  # the default 127.0.0.1 is unreachable
    (port,) = gateway["ports"]
    assert (port["host_ip"], port["published"]) == ("127.0.0.1", "8080")
    assert port["target"] == int(env["CLEARPATH_GATEWAY__PORT"]) == CLEARPATH["gateway"]
    assert gateway["command"] == ["worker", "gateway"]
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    for name, svc in full["services"].items():
        if name not in {"gateway", "kafka", "redis", "postgres", "prometheus", "grafana"}:
            assert not svc.get("ports"), f"{name} publishes a port"


def test_kafka_is_a_transaction_ready_single_node(full: dict[str, Any]) -> None:
    kafka = full["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].startswith("apache/kafka:")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    init = " ".join(full["services"]["kafka-init"]["command"])
    assert "--partitions 3" in init
    assert all(topic in init for topic in topics.ALL_TOPICS)


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


def test_compose_prometheus_scrapes_every_clearpath_service(full: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.compose.yml").read_text())
    targets = {
        target: group["labels"]["stage"]
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    expected = {f"{n}:{CLEARPATH[n.removesuffix('-gpu')]}" for n in _clearpath(full["services"])}
    assert set(targets) == expected
    for target, stage in targets.items():
        assert target.split(":")[0].removesuffix("-gpu") == stage


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

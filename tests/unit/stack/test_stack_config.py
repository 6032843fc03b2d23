"""Generated configuration: broker properties, cluster ids, remembered ports, Redis lookup."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from shared.errors import StackError
from shared.kafka_admin import parse_bootstrap
from shared.stack import kafka, redis
from shared.stack.models import Ports


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


def test_server_properties_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    props = _props(kafka.server_properties(data_dir=tmp_path, port=19092, controller_port=19093))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["log.dirs"] == str(tmp_path)
    for key in (
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "offsets.topic.replication.factor",
    ):
        assert props[key] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_cluster_id_is_sixteen_bytes_of_urlsafe_base64() -> None:
    ids = {kafka.random_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    for value in ids:
        assert len(value) == 22 and not value.startswith("-")
        assert len(base64.urlsafe_b64decode(value + "==")) == 16


def test_ports_round_trip_and_tolerate_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "ports.json"
    assert Ports.load(path) == Ports()
    Ports(kafka=1, kafka_controller=2, redis=3).save(path)
    assert Ports.load(path) == Ports(1, 2, 3)
    assert Ports.load(path).with_port("redis", 9).taken() == (1, 2, 9)
    path.write_text("{not json")
    assert Ports.load(path) == Ports()
    path.write_text('{"ports": {"kafka": "x", "bogus": 5, "redis": 7}}')
    assert Ports.load(path) == Ports(redis=7)


def test_parse_bootstrap() -> None:
    assert parse_bootstrap("a:1, PLAINTEXT://b:2,[::1]:3,bad") == [("a", 1), ("b", 2), ("::1", 3)]


def test_missing_redis_without_root_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(StackError, match="redis-server"):
        redis.ensure_redis_server()


def test_classpath_cache_is_reused_while_jars_exist(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    jar = tmp_path / "a.jar"
    jar.write_text("")
    cache = tmp_path / "cache"
    cache.mkdir()
    key = hashlib.sha256(pom.read_bytes() + b"9.9.9").hexdigest()
    (cache / "classpath.txt").write_text(f"{jar}\n")
    (cache / "classpath.key").write_text(key)
    assert kafka.resolve_classpath(version="9.9.9", pom=pom, cache_dir=cache) == str(jar)


def test_broker_jvm_gets_the_heap_and_the_configured_options(tmp_path: Path) -> None:
    from shared.settings import StackSettings

    def node(options: str) -> kafka.KafkaNode:
        return kafka.KafkaNode(
            state_dir=tmp_path,
            version="4.1.1",
            heap="-Xms64m -Xmx128m",
            deploy_dir=tmp_path,
            cache_dir=tmp_path,
            jvm_options=options,
        )

    default = StackSettings().kafka_jvm_options
    flags = node(default)._jvm_options()
    assert flags[:2] == ["-Xms64m", "-Xmx128m"]
    assert "-XX:TieredStopAtLevel=1" in flags  # C1 only by default (docs/BENCHMARKS.md)
    plain = node("")._jvm_options()
    assert not any(flag.startswith("-XX:TieredStopAtLevel") for flag in plain)
    assert "-XX:+UseG1GC" in plain

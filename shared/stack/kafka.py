"""The local Apache Kafka broker: one JVM in KRaft mode, broker and controller combined.

Jars come from the local Maven repository through ``deploy/kafka/pom.xml``; the resolved
class path is cached outside the repository, keyed by the pom's content.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from shared.errors import StackError
from shared.stack.process import LOOPBACK, spawn_detached, tail

__all__ = [
    "KafkaNode",
    "default_cache_dir",
    "default_deploy_dir",
    "random_cluster_id",
    "resolve_classpath",
    "server_properties",
]

MAVEN_TIMEOUT_S = 900.0
FORMAT_TIMEOUT_S = 180.0


def default_deploy_dir() -> Path:
    """The repository's ``deploy/`` folder (the Kafka pom and log4j2 configuration)."""
    return Path(__file__).resolve().parents[2] / "deploy"


def default_cache_dir() -> Path:
    """Where resolved class paths are cached: ``$XDG_CACHE_HOME/clearpath`` (outside the repo)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clearpath"


def random_cluster_id() -> str:
    """A cluster id as Kafka writes them: 16 random bytes, URL-safe base64, no padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not text.startswith("-"):  # Kafka avoids ids that read like a command-line flag
            return text


def resolve_classpath(
    *,
    version: str,
    pom: Path,
    cache_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
    timeout_s: float = MAVEN_TIMEOUT_S,
) -> str:
    """The broker's class path for ``version``, resolved with Maven once and then cached.

    The cache (``cache_dir/classpath.txt``) is reused while the pom is unchanged and every
    jar it names is still in the local Maven repository.
    """
    key = hashlib.sha256(pom.read_bytes() + version.encode()).hexdigest()
    cached, key_file = cache_dir / "classpath.txt", cache_dir / "classpath.key"
    if cached.is_file() and key_file.is_file() and key_file.read_text().strip() == key:
        classpath = cached.read_text(encoding="utf-8").strip()
        if classpath and all(Path(jar).is_file() for jar in classpath.split(":")):
            return classpath
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (`mvn`) is not installed: it resolves the Kafka jars")
    cache_dir.mkdir(parents=True, exist_ok=True)
    output = cache_dir / ".classpath.mvn"
    progress(f"Resolving Kafka {version} jars with Maven (the first time takes minutes)")
    argv = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        f"-Dkafka.version={version}",
        f"-Dmdep.outputFile={output}",
        "dependency:build-classpath",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"Maven did not resolve Kafka {version} in {timeout_s:.0f}s") from exc
    if done.returncode != 0 or not output.is_file():
        detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise StackError(f"Maven could not resolve Kafka {version}:\n{detail}")
    classpath = output.read_text(encoding="utf-8").strip()
    output.unlink()
    cached.write_text(classpath + "\n", encoding="utf-8")
    key_file.write_text(key + "\n", encoding="utf-8")
    return classpath


def server_properties(*, data_dir: Path, port: int, controller_port: int) -> str:
    """A single-node KRaft configuration on the loopback interface.

    A static one-voter quorum (``controller.quorum.voters``) keeps the ports free to change
    between runs; storage is formatted for it without ``--standalone``.
    """
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{LOOPBACK}:{controller_port}",
        "listeners": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        # One node: every internal topic has one replica, or transactions and groups stall.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created explicitly (shared.kafka_admin.ensure_topics), never by accident.
        "auto.create.topics.enable": "false",
    }
    lines = ["# Written by `clearpath stack up` (shared/stack/kafka.py); rewritten on each start."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


class KafkaNode:
    """Files and commands of the broker that lives under ``state_dir/kafka``."""

    def __init__(
        self,
        *,
        state_dir: Path,
        version: str,
        heap: str,
        deploy_dir: Path,
        cache_dir: Path,
        jvm_options: str = "",
    ) -> None:
        self.home = state_dir / "kafka"
        self.version = version
        self.heap = heap
        self.jvm_options = jvm_options
        self.deploy_dir = deploy_dir
        self.cache_dir = cache_dir
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self.config = self.home / "server.properties"
        self.pid_file = self.home / "kafka.pid"
        self.stdout_log = self.logs_dir / "kafka.out"

    @property
    def marker(self) -> str:
        """Text on the broker's command line that proves the process is this node."""
        return str(self.config)

    def start(self, *, port: int, controller_port: int, progress: Callable[[str], None]) -> int:
        """Write the configuration, format storage the first time, spawn the JVM; its pid."""
        java = shutil.which("java")
        if java is None:
            raise StackError("Java is not installed: the local Kafka broker needs Java 17+")
        classpath = resolve_classpath(
            version=self.version,
            pom=self.deploy_dir / "kafka" / "pom.xml",
            cache_dir=self.cache_dir / f"kafka-{self.version}",
            progress=progress,
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            server_properties(data_dir=self.data_dir, port=port, controller_port=controller_port),
            encoding="utf-8",
        )
        jvm = [java, *self._jvm_options(), "-cp", classpath]
        if not (self.data_dir / "meta.properties").is_file():
            self._format(jvm, progress)
        argv = [*jvm, "kafka.Kafka", str(self.config)]
        progress(f"Starting Kafka {self.version} on {LOOPBACK}:{port}")
        return spawn_detached(argv, log_path=self.stdout_log, cwd=self.home)

    def log_tail(self, lines: int = 30) -> str:
        parts = [tail(self.stdout_log, lines), tail(self.logs_dir / "server.log", lines)]
        return "\n".join(part for part in parts if part)

    def _jvm_options(self) -> list[str]:
        log4j = self.deploy_dir / "kafka" / "log4j2.properties"
        return [
            *shlex.split(self.heap),
            *shlex.split(self.jvm_options),
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.logs_dir}",
        ]

    def _format(self, jvm: list[str], progress: Callable[[str], None]) -> None:
        progress("Formatting Kafka storage (first start)")
        argv = [
            *jvm,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "--cluster-id",
            random_cluster_id(),
            "--config",
            str(self.config),
        ]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError("formatting Kafka storage timed out") from exc
        if done.returncode != 0:
            detail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise StackError(f"formatting Kafka storage failed:\n{detail}")

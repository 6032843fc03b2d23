"""One typed, frozen settings tree (environment: ``CLEARPATH_<SECTION>__<FIELD>``).

Build it once in a factory (``Settings()`` reads the environment) and pass it down;
tests build ``Settings(...)`` objects instead of editing ``os.environ``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.schemas import MAX_TEXT_BYTES

__all__ = [
    "AuditSettings",
    "CacheSettings",
    "DetectionSettings",
    "GatewaySettings",
    "KafkaSettings",
    "ModelSettings",
    "PolicySettings",
    "PostgresSettings",
    "PrometheusSettings",
    "RedisSettings",
    "ResponseSettings",
    "Settings",
    "StackSettings",
    "WorkerSettings",
    "default_state_dir",
]


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "clearpath"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    bootstrap_servers: str | None = Field(
        default=None, description="External brokers; None means the local stack's broker."
    )
    partitions: int = Field(default=3, ge=1, description="Partitions per topic at creation.")
    replication_factor: int = Field(default=1, ge=1)
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=60_000)
    transaction_timeout_ms: int = Field(default=60_000, ge=1000)
    session_timeout_ms: int = Field(
        default=10_000, ge=1000, description="Consumer session timeout (static membership)."
    )
    txn_retry_backoff_ms: int = Field(
        default=10,
        ge=1,
        le=1000,
        description=(
            "First retry backoff of the workers' transactional producer (doubling, at most"
            " 1 s). A batch's commit that reaches the coordinator while it still writes the"
            " previous transaction's markers is answered CONCURRENT_TRANSACTIONS and retried"
            " after this long; librdkafka's 100 ms default put that into the latency."
        ),
    )
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None


class RedisSettings(_Section):
    url: str | None = Field(
        default=None, description="External Redis; None means the local stack's."
    )


class CacheSettings(_Section):
    """The Redis verdict cache: a lookup short-circuits repeated messages."""

    enabled: bool = True
    ttl_s: int = Field(default=3600, ge=1, description="How long a cached verdict lives.")
    timeout_ms: int = Field(default=50, ge=1, description="Bound on one Redis round trip.")
    breaker_failures: int = Field(default=5, ge=1, description="Failures that open the breaker.")
    breaker_reset_s: float = Field(default=5.0, gt=0, description="Open time before a retry.")


class PostgresSettings(_Section):
    url: str | None = Field(
        default=None,
        description="External PostgreSQL DSN; unset: the local stack's server.",
    )
    pool_min: int = Field(default=1, ge=0, description="Connections a pool keeps open.")
    pool_max: int = Field(default=8, ge=1, description="Most connections one process opens.")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(
        default=10_000, ge=0, description="Bound on one statement (0: none)."
    )


class PrometheusSettings(_Section):
    url: str | None = Field(
        default=None, description="External Prometheus; None means the local stack's."
    )
    scrape_interval_s: float = Field(default=2.0, gt=0)


class StackSettings(_Section):
    state_dir: Path = Field(default_factory=default_state_dir, description="Data, logs and pids.")
    kafka_version: str = "4.1.1"
    start_timeout_s: float = Field(default=120.0, gt=0)
    gateway: bool = Field(
        default=True, description="Run the HTTP gateway as part of the local stack."
    )
    kafka_heap: str = "-Xms256m -Xmx768m"
    kafka_jvm_options: str = Field(
        default="-XX:TieredStopAtLevel=1",
        description="More JVM options for the local broker. The default compiles with the "
        "client (C1) JIT only: on a few cores the optimising C2 compiler took about a third "
        "of a core for minutes after every start, competing with the workers "
        "(docs/BENCHMARKS.md, session 6). An empty string restores the JVM's default.",
    )


class PolicySettings(_Section):
    path: Path | None = Field(
        default=None, description="Policy file or directory; None means the packaged default."
    )


class DetectionSettings(_Section):
    max_text_bytes: int = Field(default=MAX_TEXT_BYTES, ge=1, le=MAX_TEXT_BYTES)
    classifier: Literal["auto", "onnx", "none"] = Field(
        default="auto",
        description="auto: the ONNX classifier when its model is available; none: lexical only.",
    )


class ModelSettings(_Section):
    """The ONNX classifier: which variant, on which execution provider, cached where."""

    variant: Literal["auto", "fp32", "int8", "fp16"] = Field(
        default="auto", description="auto: int8 on CPU, fp16 on a GPU provider."
    )
    provider: Literal["auto", "cpu", "cuda", "tensorrt", "openvino"] = Field(
        default="auto",
        description="auto: TensorRT, CUDA, then CPU; an explicit provider that fails is fatal. "
        "openvino (the 'openvino' extra, Intel CPUs) is chosen only explicitly.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"))
            / "clearpath"
            / "models"
        ),
        description="Where built model variants are cached (with checksums).",
    )
    intra_op_threads: int = Field(default=0, ge=0, description="0: ONNX Runtime's default.")
    allow_spinning: bool = Field(
        default=False,
        description="Let idle ONNX Runtime threads spin: faster alone, but it starves the "
        "broker and the other workers on a small shared machine.",
    )
    max_tokens: int = Field(default=128, ge=16, le=512, description="Tokens per window.")
    parallel_runs: int = Field(
        default=0,
        ge=0,
        le=64,
        description="CPU: encoder runs at once, one thread each (intra_op_threads is then 1); "
        "0: one per CPU this process may use (affinity, capped by a cgroup CPU limit); 1: one "
        "run at a time over intra_op_threads.",
    )
    batch_tokens: int = Field(
        default=256,
        ge=16,
        description="CPU: padded tokens per encoder run at most (rows x width), so a run's "
        "activations stay in cache; GPU batches are not cut.",
    )


class ResponseSettings(_Section):
    appeal_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key for appeal tokens. Unset: a key file under the state dir (dev only).",
    )
    appeal_key_id: str = Field(
        default="k1", pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Key id carried by tokens."
    )
    appeal_previous_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description=(
            "Retired appeal keys by key id (JSON object), kept for verifying appeals of tokens "
            "they signed until those expire; new tokens are signed with appeal_secret only."
        ),
    )
    appeal_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    appeal_instructions: str = (
        "If you think this is a mistake, appeal with this token and tell us more about your "
        "request."
    )


class AuditSettings(_Section):
    """The audit trail: the keyed request hash, and the sink's retention and self-checks."""

    hash_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key for request_hash. Unset: a key file under the state dir (dev only).",
    )
    hash_key_id: str = Field(
        default="h1", pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Key id beside each hash."
    )
    retention_days: int = Field(
        default=365, ge=1, description="Stored events older than this (recorded_at) are deleted."
    )
    maintenance_interval_s: float = Field(
        default=60.0, gt=0, description="How often the sink applies retention and checks new rows."
    )


class GatewaySettings(_Section):
    """The HTTP gateway (``clearpath worker gateway``): where it listens, what it allows."""

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port.")
    rate_limit: str = Field(
        default="120/minute",
        description="Default limit per API key (limits notation); a key may carry its own.",
    )
    max_inputs: int = Field(
        default=32, ge=1, le=256, description="Most inputs in one /v1/moderations request."
    )
    relay_interval_s: float = Field(
        default=10.0, gt=0, description="How often unpublished appeal outcomes are re-sent."
    )


class WorkerSettings(_Section):
    batch_max: int = Field(default=256, ge=1, description="Most messages per processing batch.")
    batch_wait_ms: int = Field(
        default=20,
        ge=0,
        description="Pacing while records keep coming: a new batch starts at most this often "
        "(fewer, larger transactions under load). An idle input never waits: the first record "
        "after a quiet spell goes at once (docs/BENCHMARKS.md, latency).",
    )
    pipelined_commits: bool = Field(
        default=True,
        description="Commit a batch's transaction on a helper thread while the next batch is "
        "fetched and handled (its transaction begins once that commit succeeded). False "
        "commits inline, one batch at a time.",
    )
    freeze_heap: bool = Field(
        default=True,
        description="Freeze the start-up heap (gc.freeze) before consuming: full garbage "
        "collections then skip the model, policy and clients instead of pausing every "
        "message in flight for tens of milliseconds.",
    )
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="Stable per replica (the pod name): part of the transactional id.",
    )
    topic_suffix: str | None = Field(
        default=None, description="Namespace topics and groups (isolated pipelines, tests)."
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port.")


class Settings(BaseSettings):
    """The whole configuration of a Clearpath process."""

    model_config = SettingsConfigDict(
        env_prefix="CLEARPATH_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    cache: CacheSettings = CacheSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    postgres: PostgresSettings = PostgresSettings()
    stack: StackSettings = StackSettings()
    policy: PolicySettings = PolicySettings()
    detection: DetectionSettings = DetectionSettings()
    model: ModelSettings = ModelSettings()
    response: ResponseSettings = ResponseSettings()
    gateway: GatewaySettings = GatewaySettings()
    audit: AuditSettings = AuditSettings()
    worker: WorkerSettings = WorkerSettings()

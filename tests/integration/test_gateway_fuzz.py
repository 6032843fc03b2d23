"""The gateway's API fuzzed from its own OpenAPI document (schemathesis): no 5xx, ever.

The app runs in-process (schemathesis' ASGI transport) on its real collaborators —
PostgreSQL, Kafka (namespaced topics), Redis — with the lexical detectors only, so a few
hundred generated requests (valid and invalid) stay fast. The key is an admin's, so every
operation is reachable; its rate limit is high enough never to answer 429 here.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway.app import create_app
from services.gateway.metrics import GatewayMetrics
from shared import kafka_admin
from shared.apikeys import KeyStore
from shared.clock import utcnow
from shared.db import open_pool
from shared.settings import (
    DetectionSettings,
    GatewaySettings,
    KafkaSettings,
    PostgresSettings,
    RedisSettings,
    Settings,
    StackSettings,
    WorkerSettings,
)
from shared.stack.models import Endpoints
from shared.topics import TopicSet

pytestmark = pytest.mark.integration


#: No 5xx; and the document tells the truth: documented status codes, content types and
#: bodies, and a request without a key is refused. Not "schema-valid input is accepted" (an
#: appeal's token cannot be generated from the schema) nor "every invalid input is refused"
#: (unknown query parameters are ignored, as most HTTP APIs do).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    ignored_auth,
]


@dataclass(frozen=True)
class Fuzzed:
    schema: schemathesis.BaseSchema
    metrics: GatewayMetrics


#: Per operation and mode (valid, invalid): about 10 operations x 2 x 15 = 300 requests.
MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def admin_key(stack_endpoints: Endpoints) -> str:
    assert stack_endpoints.postgres_url is not None
    pool = open_pool(stack_endpoints.postgres_url, name="fuzz-keys")
    try:
        _, key = KeyStore(pool, clock=utcnow).create(
            tenant_id=f"fuzz-{uuid.uuid4().hex[:8]}", role="admin", rate_limit="100000/minute"
        )
    finally:
        pool.close()
    return key


@pytest.fixture(scope="module")
def gateway(
    stack_endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzzed]:
    suffix = f"fuzz{uuid.uuid4().hex[:8]}"
    topics = TopicSet.default().namespaced(suffix)
    kafka_admin.ensure_topics(
        stack_endpoints.kafka_bootstrap,
        topics.all(),
        partitions=1,
        replication_factor=1,
        retention_ms=3_600_000,
    )
    state: Path = tmp_path_factory.mktemp("fuzz-state")
    app = create_app(
        Settings(
            kafka=KafkaSettings(bootstrap_servers=stack_endpoints.kafka_bootstrap),
            redis=RedisSettings(url=stack_endpoints.redis_url),
            postgres=PostgresSettings(url=stack_endpoints.postgres_url),
            detection=DetectionSettings(classifier="none"),
            stack=StackSettings(state_dir=state, gateway=False),
            worker=WorkerSettings(topic_suffix=suffix),
            gateway=GatewaySettings(relay_interval_s=3600),
        )
    )
    try:
        with TestClient(app):  # runs the lifespan: ready, and everything closed afterwards
            schema = schemathesis.openapi.from_asgi("/openapi.json", app)
            yield Fuzzed(schema, app.state.deps.metrics)
    finally:
        kafka_admin.delete_topics(stack_endpoints.kafka_bootstrap, topics.all())


def _fuzz(
    operation: schemathesis.APIOperation[Any, Any, Any, Any], mode: GenerationMode, key: str
) -> None:
    """``MAX_EXAMPLES`` generated requests to one operation; the first 5xx fails the test."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers={"Authorization": f"Bearer {key}"})
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # Nothing to make invalid (an operation without parameters or body): nothing to send.
        if mode is not GenerationMode.NEGATIVE:
            raise


def test_no_request_gets_a_server_error(gateway: Fuzzed, admin_key: str) -> None:
    # schemathesis' own pytest integration (from_fixture) does not run on this pytest, so
    # each operation is driven through its Hypothesis strategy here.
    operations = []
    for result in gateway.schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operations.append(result.ok())
    assert len(operations) >= 9
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, admin_key)
    answered: Counter[str] = Counter()
    for metric in gateway.metrics.http_requests.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                answered[sample.labels["status"][0] + "xx"] += int(sample.value)
    # It really ran, authenticated, with valid and invalid requests, and never failed.
    assert sum(answered.values()) >= 100, answered
    assert answered["2xx"] > 0 and answered["4xx"] > 0 and answered["5xx"] == 0, answered

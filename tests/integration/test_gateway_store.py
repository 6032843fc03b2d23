"""API keys and the appeal store on the real PostgreSQL (migration 0002), and the keys CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from services.cli.main import build_app
from shared.apikeys import KeyStore, hash_key
from shared.appeals.store import AppealRecord, PostgresAppealStore
from shared.db import open_pool
from shared.stack.models import Endpoints
from tests.support.factories import NOW

pytestmark = pytest.mark.integration


@pytest.fixture
def url(stack_endpoints: Endpoints) -> str:
    assert stack_endpoints.postgres_url is not None
    return stack_endpoints.postgres_url


@pytest.fixture
def pool(url: str) -> Iterator[ConnectionPool]:
    pool = open_pool(url, name="test-gateway")
    yield pool
    pool.close()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def test_keys_are_stored_hashed_and_authenticate_until_revoked(
    pool: ConnectionPool, url: str, tenant: str
) -> None:
    store = KeyStore(pool, clock=lambda: NOW)
    stored, key = store.create(
        tenant_id=tenant, role="reviewer", label="t&s", rate_limit="9/second"
    )
    assert key.startswith(f"cpk_{stored.key_id}_") and len(key) == 4 + 12 + 1 + 43
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = %s", (stored.key_id,)).fetchone()
    assert row is not None
    assert key not in json.dumps([str(v) for v in row])  # never the key, only its hash
    assert hash_key(key) in [str(v) for v in row]

    found = store.authenticate(key)
    assert found is not None and (found.tenant_id, found.role, found.rate_limit) == (
        tenant,
        "reviewer",
        "9/second",
    )
    assert store.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.authenticate("cpk_000000000000_" + "x" * 43) is None
    assert store.authenticate("garbage") is None
    assert [k.key_id for k in store.list_keys(tenant_id=tenant)] == [stored.key_id]

    revoked = store.revoke(stored.key_id)
    assert revoked is not None and revoked.revoked_at == NOW
    assert store.authenticate(key) is None
    assert store.list_keys(tenant_id=tenant) == []
    assert [k.key_id for k in store.list_keys(tenant_id=tenant, include_revoked=True)] == [
        stored.key_id
    ]
    assert store.revoke("cpk_ffffffffffff") is None


def test_bad_key_parameters_are_refused(pool: ConnectionPool, tenant: str) -> None:
    store = KeyStore(pool, clock=lambda: NOW)
    with pytest.raises(ValueError, match="role"):
        store.create(tenant_id=tenant, role="root")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate limit"):
        store.create(tenant_id=tenant, role="client", rate_limit="lots")


def _record(tenant: str, n: int, *, outcome: str = "queued") -> AppealRecord:
    return AppealRecord(
        appeal_id=f"apl_{uuid.uuid4().hex[:24]}",
        tenant_id=tenant,
        request_id=f"r-{n}",
        token_id="0" * 32,
        profile="public_assistant",
        category="crime_illicit",
        policy_ref="public_assistant@4#crime_illicit.2",
        purpose=None,
        statement=f"context {n}",
        original_action="refuse",
        reconsidered_action="refuse",
        outcome=outcome,  # type: ignore[arg-type]
        reason="needs_review" if outcome == "queued" else "no_context",
        request_text="the text" if outcome == "queued" else None,
        created_at=NOW + timedelta(seconds=n),
    )


def test_the_appeal_store_keeps_one_appeal_per_id_and_a_tenant_scoped_queue(
    pool: ConnectionPool, tenant: str
) -> None:
    store = PostgresAppealStore(pool)
    queued = [_record(tenant, n) for n in range(3)]
    for record in queued:
        stored, created = store.insert(record)
        assert created and stored == record
    again, created = store.insert(queued[0])
    assert not created and again == queued[0]
    store.insert(_record(tenant, 9, outcome="upheld"))
    store.insert(_record(f"{tenant}-other", 1))

    assert store.get(tenant_id=f"{tenant}-other", appeal_id=queued[0].appeal_id) is None
    first = store.queue(tenant_id=tenant, limit=2)
    assert [r.appeal_id for r in first] == [r.appeal_id for r in queued[:2]]
    rest = store.queue(tenant_id=tenant, limit=2, after=first[-1].appeal_id)
    assert [r.appeal_id for r in rest] == [queued[2].appeal_id]

    decided = store.review(
        tenant_id=tenant,
        appeal_id=queued[1].appeal_id,
        outcome="overturned",
        note="fine",
        reviewer="k1",
        now=NOW,
    )
    assert decided is not None and decided.review_outcome == "overturned"
    assert decided.request_text is None and decided.status == "decided"
    assert (
        store.review(
            tenant_id=tenant,
            appeal_id=queued[1].appeal_id,
            outcome="upheld",
            note=None,
            reviewer="k2",
            now=NOW,
        )
        is None
    )  # decided once
    assert (
        store.review(
            tenant_id=f"{tenant}-other",
            appeal_id=queued[0].appeal_id,
            outcome="upheld",
            note=None,
            reviewer="k",
            now=NOW,
        )
        is None
    )  # never another tenant's
    assert [r.appeal_id for r in store.queue(tenant_id=tenant, limit=10)] == [
        queued[0].appeal_id,
        queued[2].appeal_id,
    ]

    mine = {r.appeal_id for r in store.unpublished(limit=1000)}
    assert decided.appeal_id in mine
    store.mark_published(decided.appeal_id, which="outcome", now=NOW)
    assert decided.appeal_id in {r.appeal_id for r in store.unpublished(limit=1000)}  # review
    store.mark_published(decided.appeal_id, which="review", now=NOW)
    assert decided.appeal_id not in {r.appeal_id for r in store.unpublished(limit=1000)}


def test_keys_cli_creates_lists_and_revokes(url: str, tenant: str) -> None:
    runner = CliRunner()
    env = {"CLEARPATH_POSTGRES__URL": url}
    app = build_app()
    created = runner.invoke(
        app,
        ["gateway", "keys", "create", "--tenant", tenant, "--role", "client", "--json"],
        env=env,
    )
    assert created.exit_code == 0, created.output
    data = json.loads(created.output)
    assert data["key"].startswith(data["prefix"]) and data["tenant_id"] == tenant
    listed = runner.invoke(app, ["gateway", "keys", "list", "--tenant", tenant, "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.output)
    assert entry["key_id"] == data["key_id"] and "key" not in entry
    assert data["key"] not in listed.output
    revoked = runner.invoke(app, ["gateway", "keys", "revoke", data["key_id"]], env=env)
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    listed = runner.invoke(app, ["gateway", "keys", "list", "--tenant", tenant, "--json"], env=env)
    assert json.loads(listed.output) == []
    bad = runner.invoke(
        app, ["gateway", "keys", "create", "--tenant", tenant, "--role", "root"], env=env
    )
    assert bad.exit_code != 0

"""The audit store on the real PostgreSQL: idempotent appends, no forks, retention, verify."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from services.audit.maintenance import Maintenance
from services.audit.metrics import AuditMetrics
from services.cli.main import build_app
from shared.audit.store import AuditStore, OffsetReuse
from shared.audit.verify import verify_topic
from shared.db import open_pool
from shared.settings import AuditSettings
from shared.stack.models import Endpoints
from tests.support.audit import audit_document, audit_rows, drop_chains, pending
from tests.support.factories import NOW

pytestmark = pytest.mark.integration


@pytest.fixture
def url(stack_endpoints: Endpoints) -> str:
    assert stack_endpoints.postgres_url is not None
    return stack_endpoints.postgres_url


@pytest.fixture
def topic(url: str) -> Iterator[str]:
    name = f"clearpath.audit.v1.test-{uuid.uuid4().hex[:10]}"
    yield name
    drop_chains(url, name)


@pytest.fixture
def pool(url: str) -> Iterator[ConnectionPool]:
    pool = open_pool(url, name="test-audit")
    yield pool
    pool.close()


def _intact(url: str, topic: str) -> bool:
    with psycopg.connect(url) as conn:
        return all(r.intact for r in verify_topic(conn, topic))


def test_a_redelivered_batch_is_skipped_and_the_chain_stays_intact(
    pool: ConnectionPool, url: str, topic: str
) -> None:
    store = AuditStore(pool, topic=topic)
    batch = [pending(i % 2, i // 2, audit_document(i)) for i in range(10)]
    first = store.append(batch, recorded_at=NOW)
    again = store.append(batch, recorded_at=NOW)
    assert first.recorded == {"verdict": 10} and not first.skipped
    assert not again.recorded and again.skipped == {"redelivered": 10}

    rows = audit_rows(url, topic)
    assert len(rows) == 10 and len({r["event_id"] for r in rows}) == 10
    for partition in (0, 1):
        chain = [r for r in rows if r["kafka_partition"] == partition]
        assert [r["seq"] for r in chain] == [1, 2, 3, 4, 5]
        assert [r["kafka_offset"] for r in chain] == [0, 1, 2, 3, 4]
        assert bytes(chain[0]["prev_hash"]) == bytes(32)
        assert all(bytes(b["prev_hash"]) == bytes(a["hash"]) for a, b in itertools.pairwise(chain))
        assert all(r["event"] == json.loads(r["canonical"]) for r in chain)
    assert _intact(url, topic)
    with psycopg.connect(url) as conn:
        [quiet] = verify_topic(conn, topic, partitions=[7])  # no chain there: nothing to prove
    assert quiet.intact and quiet.result.checked == 0


def test_overlapping_batches_from_two_replicas_never_fork_the_chain(url: str, topic: str) -> None:
    events = [pending(0, offset, audit_document(offset)) for offset in range(120)]
    # Replicas during rebalances: each resumes from the committed offset (here 0, nothing
    # committed) and walks the partition in its own batch sizes, racing the others.
    sizes = (7, 13, 20, 31, 50)
    barrier = threading.Barrier(len(sizes))
    errors: list[BaseException] = []

    def replica(size: int) -> None:
        pool = open_pool(url, name="test-audit-replica")
        try:
            barrier.wait()
            for start in range(0, len(events), size):
                batch = events[start : start + size]
                AuditStore(pool, topic=topic).append(batch, recorded_at=NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            pool.close()

    threads = [threading.Thread(target=replica, args=(size,)) for size in sizes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    rows = audit_rows(url, topic)
    assert [r["seq"] for r in rows] == list(range(1, 121))
    assert [r["kafka_offset"] for r in rows] == list(range(120))
    assert _intact(url, topic)


def test_a_producer_retry_at_a_new_offset_is_stored_once(
    pool: ConnectionPool, topic: str, url: str
) -> None:
    store = AuditStore(pool, topic=topic)
    document = audit_document(1)
    result = store.append(
        [pending(0, 5, document), pending(0, 6, document), pending(0, 7, audit_document(2))],
        recorded_at=NOW,
    )
    assert result.skipped == {"duplicate_event": 1} and result.recorded == {"verdict": 2}
    assert [r["kafka_offset"] for r in audit_rows(url, topic)] == [5, 7]
    assert _intact(url, topic)


def test_a_recreated_topic_is_refused_rather_than_skipped(pool: ConnectionPool, topic: str) -> None:
    store = AuditStore(pool, topic=topic)
    store.append([pending(0, i, audit_document(i)) for i in range(3)], recorded_at=NOW)
    with pytest.raises(OffsetReuse):
        store.append([pending(0, 1, audit_document(9))], recorded_at=NOW)


def test_retention_moves_the_anchor_and_verification_starts_there(
    pool: ConnectionPool, topic: str, url: str
) -> None:
    store = AuditStore(pool, topic=topic)
    old = NOW - timedelta(days=400)
    store.append([pending(0, i, audit_document(i)) for i in range(5)], recorded_at=old)
    store.append([pending(0, i, audit_document(i)) for i in range(5, 8)], recorded_at=NOW)
    assert store.delete_expired(before=NOW - timedelta(days=365)) == 5
    with psycopg.connect(url) as conn:
        [report] = verify_topic(conn, topic)
    assert report.intact and (report.anchor_seq, report.head_seq) == (6, 8)
    assert report.result.checked == 3

    # Deleting the oldest retained row by hand is not retention: the anchor no longer matches.
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM audit_events WHERE topic = %s AND seq = 6", (topic,))
        [report] = verify_topic(conn, topic)
    broken = report.result.broken
    assert broken is not None and (broken.seq, broken.reason) == (6, "deleted")


def _verify_cli(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        build_app(), ["audit", "verify", "--json", *args], env={"CLEARPATH_POSTGRES__URL": url}
    )
    return result.exit_code, json.loads(result.stdout)


def test_audit_verify_passes_intact_chains_and_catches_modified_and_deleted_rows(
    pool: ConnectionPool, topic: str, url: str
) -> None:
    store = AuditStore(pool, topic=topic)
    store.append(
        [pending(p, i, audit_document(10 * p + i)) for p in (0, 1, 2) for i in range(6)],
        recorded_at=NOW,
    )

    code, report = _verify_cli(url, "--topic", topic)
    assert code == 0 and report["intact"] is True
    assert [p["rows_checked"] for p in report["partitions"]] == [6, 6, 6]
    assert "oldest retained row" in report["anchor"]

    with psycopg.connect(url) as conn:
        # Partition 0: a row's action changed in both the jsonb and the hashed text.
        row = conn.execute(
            "SELECT canonical FROM audit_events WHERE topic = %s AND kafka_partition = 0 "
            "AND seq = 3",
            (topic,),
        ).fetchone()
        assert row is not None
        document = json.loads(row[0])
        document["action"] = "allow" if document["action"] != "allow" else "refuse"
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        conn.execute(
            "UPDATE audit_events SET canonical = %s, event = %s::jsonb, action = %s "
            "WHERE topic = %s AND kafka_partition = 0 AND seq = 3",
            (text, text, document["action"], topic),
        )
        # Partition 1: a row deleted.
        conn.execute(
            "DELETE FROM audit_events WHERE topic = %s AND kafka_partition = 1 AND seq = 2",
            (topic,),
        )

    code, report = _verify_cli(url, "--topic", topic)
    assert code == 1 and report["intact"] is False
    by_partition = {p["partition"]: p for p in report["partitions"]}
    assert by_partition[0]["broken"]["seq"] == 3
    assert by_partition[0]["broken"]["reason"] == "modified"
    assert by_partition[1]["broken"] == {
        "seq": 2,
        "reason": "deleted",
        "detail": "seq 2 missing (gap in the chain)",
    }
    assert by_partition[2]["intact"] is True

    code, report = _verify_cli(url, "--topic", topic, "--partition", "0", "--from-seq", "4")
    assert code == 0 and report["partitions"][0]["rows_checked"] == 3
    code, _ = _verify_cli(url, "--topic", topic, "--partition", "0", "--to-seq", "3")
    assert code == 1
    since = (NOW - timedelta(minutes=1)).isoformat()
    code, report = _verify_cli(url, "--topic", topic, "--partition", "2", "--since", since)
    assert code == 0 and report["partitions"][0]["rows_checked"] == 6


def test_audit_verify_names_swapped_rows_reordered(
    pool: ConnectionPool, topic: str, url: str
) -> None:
    store = AuditStore(pool, topic=topic)
    store.append([pending(0, i, audit_document(i)) for i in range(5)], recorded_at=NOW)
    with psycopg.connect(url) as conn:
        where = "WHERE topic = %s AND kafka_partition = 0 AND seq = %s"
        conn.execute(f"UPDATE audit_events SET seq = 1000 {where}", (topic, 2))
        conn.execute(f"UPDATE audit_events SET seq = 2 {where}", (topic, 3))
        conn.execute(f"UPDATE audit_events SET seq = 3 {where}", (topic, 1000))
    code, report = _verify_cli(url, "--topic", topic)
    assert code == 1
    broken = report["partitions"][0]["broken"]
    assert (broken["seq"], broken["reason"]) == (2, "reordered")
    counts = Counter(r["seq"] for r in audit_rows(url, topic))
    assert max(counts.values()) == 1


def test_the_sinks_upkeep_applies_retention_and_counts_broken_chains(
    pool: ConnectionPool, topic: str, url: str
) -> None:
    store = AuditStore(pool, topic=topic)
    metrics = AuditMetrics.create(CollectorRegistry())
    upkeep = Maintenance(
        store=store,
        settings=AuditSettings(retention_days=30),
        metrics=metrics,
        clock=lambda: NOW,
    )
    store.append(
        [pending(0, i, audit_document(i)) for i in range(4)], recorded_at=NOW - timedelta(days=31)
    )
    store.append([pending(0, i, audit_document(i)) for i in range(4, 7)], recorded_at=NOW)
    upkeep.run_once()
    assert metrics.expired._value.get() == 4
    assert metrics.verified_rows._value.get() == 3

    store.append([pending(0, i, audit_document(i)) for i in range(7, 9)], recorded_at=NOW)
    upkeep.run_once()  # only the rows stored since the last pass
    assert metrics.verified_rows._value.get() == 5

    store.append([pending(0, i, audit_document(i)) for i in range(9, 11)], recorded_at=NOW)
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE audit_events SET canonical = canonical || ' ' WHERE topic = %s AND seq = 10",
            (topic,),
        )
    for passes in (1, 2):  # counted on every pass until someone deals with it
        upkeep.run_once()
        failures = metrics.verification_failures.labels("modified")._value.get()
        assert failures == passes

"""The demo's last word on the audit trail: every verdict recorded, and the chains verified."""

from __future__ import annotations

import time
from collections.abc import Collection

import psycopg
from rich.console import Console

from services.cli.audit import ANCHOR_NOTE, summary_line
from shared.audit.verify import verify_topic
from shared.errors import ClearpathError

__all__ = ["print_audit_summary"]


def _recorded(conn: psycopg.Connection, topic: str, request_ids: list[str]) -> int:
    row = conn.execute(
        "SELECT count(DISTINCT request_id) FROM audit_events "
        "WHERE topic = %s AND kind = 'verdict' AND request_id = ANY(%s)",
        (topic, request_ids),
    ).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def print_audit_summary(
    console: Console,
    postgres_url: str,
    *,
    topic: str,
    request_ids: Collection[str],
    timeout_s: float = 30.0,
) -> None:
    """Wait (bounded) for the sink to record the demo's verdicts, then verify every chain."""
    wanted = list(request_ids)
    try:
        with psycopg.connect(postgres_url) as conn:
            deadline = time.monotonic() + timeout_s
            recorded = _recorded(conn, topic, wanted)
            while recorded < len(wanted) and time.monotonic() < deadline:
                time.sleep(0.5)
                recorded = _recorded(conn, topic, wanted)
            reports = verify_topic(conn, topic)
    except (psycopg.Error, ClearpathError) as exc:
        console.print(f"[yellow]audit trail not checked: {exc}[/]")
        return
    console.print(
        f"audit trail: {recorded}/{len(wanted)} verdicts recorded in PostgreSQL · "
        f"{summary_line(reports)}"
    )
    for report in reports:
        broken = report.result.broken
        if broken is not None:
            console.print(
                f"[red]  partition {report.partition}: seq {broken.seq} {broken.reason}: "
                f"{broken.detail}[/]"
            )
    console.print(f"[dim]  ({ANCHOR_NOTE}; re-check any time with `clearpath audit verify`)[/]")

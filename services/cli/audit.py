"""``clearpath audit verify``: recompute and check the audit hash chains in PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from shared.audit.verify import PartitionReport, verify_topic
from shared.db import connect
from shared.endpoints import postgres_url
from shared.errors import ClearpathError
from shared.settings import Settings
from shared.worker import topics_for

__all__ = ["ANCHOR_NOTE", "register", "summary_line"]

ANCHOR_NOTE = (
    "each partition is verified from its oldest retained row (its anchor); rows that "
    "retention deleted before it are outside what the chain can prove"
)


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=name) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def summary_line(reports: Sequence[PartitionReport]) -> str:
    """One line: intact or not, partitions and rows checked."""
    rows = sum(r.result.checked for r in reports)
    broken = [r for r in reports if not r.intact]
    if broken:
        return f"audit chain TAMPERED: {len(broken)} of {len(reports)} partitions broken"
    return f"audit chain intact: {len(reports)} partitions, {rows} rows verified"


def _line(report: PartitionReport) -> str:
    result, broken = report.result, report.result.broken
    bounds = f"anchor {report.anchor_seq}, head {report.head_seq}"
    if broken is not None:
        return (
            f"partition {report.partition}: [bold red]BROKEN[/] at seq {broken.seq} "
            f"({broken.reason}): {broken.detail} · {bounds}"
        )
    span = f"seq {result.first_seq}..{result.last_seq}" if result.checked else "no rows in range"
    return (
        f"partition {report.partition}: [green]intact[/] · {span} · "
        f"{result.checked} rows · {bounds}"
    )


def register(app: typer.Typer) -> None:
    audit = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def verify(
        partition: Annotated[
            list[int] | None, typer.Option("--partition", "-p", help="Only this partition.")
        ] = None,
        from_seq: Annotated[int | None, typer.Option("--from-seq", min=1)] = None,
        to_seq: Annotated[int | None, typer.Option("--to-seq", min=1)] = None,
        since: Annotated[
            str | None, typer.Option(help="Rows recorded at or after (ISO 8601; UTC if naive).")
        ] = None,
        until: Annotated[
            str | None, typer.Option(help="Rows recorded at or before (ISO 8601).")
        ] = None,
        topic: Annotated[
            str | None, typer.Option(help="Audit topic whose chains to verify (default: ours).")
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Recompute every row's hash, check the links and seq contiguity; exit 1 if tampered.

        Reports the first broken row of each partition and why: modified, deleted (a gap or
        missing rows) or reordered.
        """
        err = Console(stderr=True)
        settings = Settings()
        chosen_topic = topic or topics_for(settings).audit
        try:
            with connect(postgres_url(settings), settings.postgres) as conn:
                reports = verify_topic(
                    conn,
                    chosen_topic,
                    partitions=partition,
                    from_seq=from_seq,
                    to_seq=to_seq,
                    since=_moment(since, "--since"),
                    until=_moment(until, "--until"),
                )
        except ClearpathError as exc:
            err.print(f"[bold red]audit verify:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        intact = all(r.intact for r in reports)
        if json_output:
            document: dict[str, Any] = {
                "topic": chosen_topic,
                "intact": intact,
                "anchor": ANCHOR_NOTE,
                "partitions": [r.to_dict() for r in reports],
            }
            typer.echo(json.dumps(document, indent=2))
        else:
            console = Console()
            console.print(f"[bold]{chosen_topic}[/]", highlight=False)
            for report in reports:
                console.print(_line(report), highlight=False)
            console.print(summary_line(reports), highlight=False)
            console.print(f"[dim]{ANCHOR_NOTE}[/]", highlight=False)
        raise typer.Exit(0 if intact else 1)

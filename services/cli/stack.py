"""``clearpath stack up|down|status``: the local Kafka + Redis stack from the command line."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shared.errors import StackError
from shared.settings import Settings
from shared.stack import LocalStack, StackStatus

__all__ = ["register"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout.")]


def _stack(console: Console, *, quiet: bool) -> LocalStack:
    def progress(message: str) -> None:
        if not quiet:
            console.print(f"[dim]{message}…[/dim]")

    return LocalStack(Settings(), progress=progress)


def _emit_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def _fail(err: Console, exc: StackError) -> typer.Exit:
    err.print(f"[bold red]stack error:[/bold red] {exc}", markup=True, highlight=False)
    return typer.Exit(code=1)


def _table(status: StackStatus) -> Table:
    table = Table(title=f"Clearpath stack ({status.state_dir})", title_justify="left")
    for column in ("service", "mode", "state", "pid", "endpoint"):
        table.add_column(column)
    for service in status.services:
        state = "[green]running[/green]" if service.running else "[red]stopped[/red]"
        table.add_row(
            service.name,
            "managed" if service.managed else "external",
            state,
            str(service.pid or "—"),
            service.endpoint or "—",
        )
    return table


def up(json_output: JsonOption = False) -> None:
    """Start Kafka, Redis, PostgreSQL, Prometheus (or use external ones) and the HTTP gateway;
    create topics."""
    console, err = Console(), Console(stderr=True)
    stack = _stack(err, quiet=json_output)
    try:
        endpoints = stack.up()
    except StackError as exc:
        raise _fail(err, exc) from exc
    status = stack.status()
    if json_output:
        _emit_json(status.to_dict())
        return
    console.print(_table(status))
    console.print(f"KAFKA_BOOTSTRAP={endpoints.kafka_bootstrap}", highlight=False)
    console.print(f"REDIS_URL={endpoints.redis_url}", highlight=False)
    if endpoints.postgres_url:
        console.print(f"POSTGRES_URL={status.postgres_url}", highlight=False)
    if endpoints.prometheus_url:
        console.print(f"PROMETHEUS_URL={endpoints.prometheus_url}", highlight=False)
    if endpoints.gateway_url:
        console.print(f"GATEWAY_URL={endpoints.gateway_url}", highlight=False)


PurgeOption = Annotated[
    bool,
    typer.Option(
        "--purge", help="Also delete the managed services' data: topics, database, metrics."
    ),
]


def down(json_output: JsonOption = False, purge: PurgeOption = False) -> None:
    """Stop the processes the stack started (external services are left alone)."""
    console, err = Console(), Console(stderr=True)
    stack = _stack(err, quiet=True)
    purged: tuple[str, ...] = ()
    try:
        stopped = stack.down()
        if purge:
            purged = stack.purge()
    except StackError as exc:
        raise _fail(err, exc) from exc
    if purged and not json_output:
        console.print(f"Deleted the data of: {', '.join(purged)}")
    if json_output:
        payload = {"stopped": list(stopped), **stack.status().to_dict()}
        if purge:
            payload["purged"] = list(purged)
        _emit_json(payload)
    elif stopped:
        console.print(f"Stopped: {', '.join(stopped)}")
    else:
        console.print("Nothing to stop.")


def status(json_output: JsonOption = False) -> None:
    """Show the endpoints in use and what is running."""
    console = Console()
    current = _stack(console, quiet=True).status()
    if json_output:
        _emit_json(current.to_dict())
    else:
        console.print(_table(current))


def register(app: typer.Typer) -> None:
    """Add the ``stack`` command group (up, down, status) to ``app``."""
    group = typer.Typer(
        no_args_is_help=True,
        help="The local stack: Kafka (KRaft), Redis, PostgreSQL, Prometheus, the HTTP gateway.",
    )
    group.command("up")(up)
    group.command("down")(down)
    group.command("status")(status)
    app.add_typer(group, name="stack")

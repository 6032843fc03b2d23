"""``clearpath gateway keys create|list|revoke``: the HTTP gateway's API keys.

Keys live hashed in PostgreSQL (the local stack's, or ``CLEARPATH_POSTGRES__URL``); a new
key is printed once and never again. Run the gateway itself with ``clearpath worker gateway``
(``clearpath stack up`` starts one too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.apikeys import ApiKey, KeyStore
from shared.clock import utcnow
from shared.db import migrate, open_pool
from shared.endpoints import postgres_url
from shared.errors import ClearpathError
from shared.settings import Settings

__all__ = ["register"]


class RoleChoice(StrEnum):
    client = "client"
    reviewer = "reviewer"
    admin = "admin"


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]


@contextmanager
def _store() -> Iterator[KeyStore]:
    settings = Settings()
    try:
        url = postgres_url(settings)
        migrate(url)
        pool = open_pool(url, settings.postgres, name="cli-keys")
    except ClearpathError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    try:
        yield KeyStore(pool, clock=utcnow)
    finally:
        pool.close()


def _as_dict(key: ApiKey) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "prefix": key.prefix,
        "tenant_id": key.tenant_id,
        "role": key.role,
        "label": key.label,
        "rate_limit": key.rate_limit,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def create(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant the key acts for.")],
    role: Annotated[RoleChoice, typer.Option("--role", help="What the key may do.")] = (
        RoleChoice.client
    ),
    label: Annotated[str | None, typer.Option("--label", help="A note: who or what.")] = None,
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="Own limit, e.g. '600/minute'.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a key and print it once (it is stored hashed: it cannot be shown again)."""
    with _store() as store:
        try:
            key, secret = store.create(
                tenant_id=tenant, role=role.value, label=label, rate_limit=rate_limit
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    if json_output:
        typer.echo(json.dumps({**_as_dict(key), "key": secret}, indent=2))
        return
    console = Console()
    console.print(f"Created {key.role} key {key.key_id} for tenant {key.tenant_id}.")
    console.print("Store it now; it is not shown again:", style="bold")
    typer.echo(secret)


def list_keys(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked keys.")] = False,
    json_output: JsonOption = False,
) -> None:
    """List keys (their prefixes, never the keys)."""
    with _store() as store:
        keys = store.list_keys(tenant_id=tenant, include_revoked=revoked)
    if json_output:
        typer.echo(json.dumps([_as_dict(k) for k in keys], indent=2))
        return
    table = Table("key", "tenant", "role", "label", "rate limit", "created", "revoked")
    for key in keys:
        table.add_row(
            f"{key.prefix}…",
            key.tenant_id,
            key.role,
            key.label or "—",
            key.rate_limit or "default",
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "—",
        )
    Console().print(table)


def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (or the whole key).")],
) -> None:
    """Revoke a key: it stops working at once."""
    with _store() as store:
        key = store.revoke(key_id)
    if key is None:
        Console(stderr=True).print("[bold red]error:[/] no such key")
        raise typer.Exit(1)
    Console().print(f"Revoked {key.key_id} ({key.role}, tenant {key.tenant_id}).")


def register(app: typer.Typer) -> None:
    """Add the ``gateway`` command group (``keys create|list|revoke``) to ``app``."""
    keys = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke.")
    keys.command("create")(create)
    keys.command("list")(list_keys)
    keys.command("revoke")(revoke)
    group = typer.Typer(
        no_args_is_help=True,
        help="The HTTP gateway's API keys (run it with `clearpath worker gateway`).",
    )
    group.add_typer(keys, name="keys")
    app.add_typer(group, name="gateway")

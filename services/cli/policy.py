"""``clearpath policy``: validate policy files and render the end-user policy summary."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shared.core.policy_model import Policy
from shared.errors import PolicyError
from shared.policy.loader import load_policy
from shared.policy.summary import render_html, render_markdown
from shared.settings import Settings

__all__ = ["SummaryFormat", "register"]


class SummaryFormat(StrEnum):
    markdown = "markdown"
    html = "html"


def register(app: typer.Typer) -> None:
    """Add the ``policy`` command group to ``app``."""
    group = typer.Typer(
        no_args_is_help=True, help="Policy files: validate them, render the end-user summary."
    )
    group.command("validate")(validate)
    group.command("summary")(summary)
    app.add_typer(group, name="policy")


def _describe(policy: Policy) -> str:
    return (
        f"{policy.id}@{policy.version}: {len(policy.categories)} categories, "
        f"profiles {', '.join(policy.profiles)}, {len(policy.floors)} floors, "
        f"{len(policy.tenants)} tenants"
    )


def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Policy files or directories (policy.yaml + tenants/).")
    ],
) -> None:
    """Check policy files; exit 1 if any fails, naming the file and field."""
    failed = False
    for path in files:
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            typer.echo(f"invalid: {exc}", err=True)
            failed = True
            continue
        typer.echo(f"ok: {path}: {_describe(policy)}")
    if failed:
        raise typer.Exit(1)


def summary(
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", help="Policy file or directory (default: settings, then packaged)."
        ),
    ] = None,
    fmt: Annotated[SummaryFormat, typer.Option("--format", help="Output format.")] = (
        SummaryFormat.markdown
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Render the end-user policy summary (every clause with a stable anchor)."""
    path = policy if policy is not None else Settings().policy.path
    try:
        loaded = load_policy(path)
    except PolicyError as exc:
        typer.echo(f"invalid: {exc}", err=True)
        raise typer.Exit(1) from None
    text = render_html(loaded) if fmt is SummaryFormat.html else render_markdown(loaded)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output} ({fmt.value}, {loaded.id}@{loaded.version})", err=True)

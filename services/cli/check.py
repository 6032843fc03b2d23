"""``clearpath check "TEXT"``: one message through detection → policy → response, in-process."""

from __future__ import annotations

import json
import uuid

import typer
from rich.console import Console
from rich.table import Table

from services.cli.worker import configure_logging
from shared.bootstrap import build_pipeline
from shared.clock import utcnow
from shared.schemas import Intent, ModerationRequest, Purpose, Verdict
from shared.settings import Settings

__all__ = ["register", "render_verdict"]


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check(
        text: str = typer.Argument(..., help="The message to moderate."),
        profile: str = typer.Option("public_assistant", "--profile", help="Deployment profile."),
        intent: str | None = typer.Option(
            None, "--intent", help="Declared purpose: education, research, fiction, ..."
        ),
        verified: bool = typer.Option(False, "--verified", help="The intent is verified."),
        tenant: str = typer.Option("cli", "--tenant", help="Tenant whose lists apply."),
        as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    ) -> None:
        """Moderate one message in-process (no Kafka) and print the verdict."""
        configure_logging()
        settings = Settings()
        pipeline = build_pipeline(settings)
        now = utcnow()
        request = ModerationRequest(
            request_id=f"cli-{uuid.uuid4()}",
            tenant_id=tenant,
            text=text,
            profile=profile,
            intent=Intent(purpose=_purpose(intent), verified=verified) if intent else None,
            submitted_at=now,
        )
        verdict = pipeline.check(request, clock=utcnow)
        if as_json:
            typer.echo(json.dumps(verdict.model_dump(mode="json", exclude_none=True), indent=2))
        else:
            render_verdict(Console(), verdict)


def _purpose(value: str) -> Purpose:
    allowed = Intent.model_fields["purpose"].annotation
    choices = getattr(allowed, "__args__", ())
    if value not in choices:
        raise typer.BadParameter(f"--intent must be one of: {', '.join(choices)}")
    return value  # type: ignore[return-value]  # narrowed by the membership test above


def render_verdict(console: Console, verdict: Verdict) -> None:
    """A person-readable verdict with its receipt."""
    colour = {"allow": "green", "redact": "yellow", "refuse": "red", "escalate": "red"}.get(
        verdict.action, "cyan"
    )
    console.print(
        f"[bold {colour}]{verdict.action}[/]  ({verdict.profile}, {verdict.policy_version})"
    )
    triggered = [c for c in verdict.categories if c.triggered]
    if triggered:
        table = Table("category", "score", "threshold")
        for c in triggered:
            table.add_row(c.id, f"{c.score:.3f}", f"{c.threshold:.2f}")
        console.print(table)
    if verdict.redacted_text is not None:
        console.print(f"redacted: {verdict.redacted_text}")
    if verdict.receipt is not None:
        r = verdict.receipt
        console.print(f"reason: {r.reason}\npolicy: {r.policy_ref}")
        for alt in r.alternatives:
            console.print(f"  • {alt}")
        if r.rewrite:
            console.print(f"try instead: {r.rewrite}")
        console.print(f"appeal: {r.appeal.instructions}\n  token: {r.appeal.token}")
    console.print(
        f"[dim]model {verdict.model_version} · {verdict.timings_ms.get('total', 0):.1f} ms[/]"
    )

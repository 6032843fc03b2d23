"""``clearpath policy validate|summary``: exit codes, messages and output files."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from services.cli.policy import register
from shared.policy.loader import DEFAULT_POLICY_PATH
from tests.support.policy_factories import default_data, write_policy


def app() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


def test_validate_ok(tmp_path: Path) -> None:
    single = write_policy(tmp_path / "one.yaml", default_data())
    result = CliRunner().invoke(
        app(), ["policy", "validate", str(DEFAULT_POLICY_PATH), str(single)]
    )
    assert result.exit_code == 0, result.output
    assert f"ok: {DEFAULT_POLICY_PATH}: clearpath-default@7: 12 categories" in result.stdout
    assert "2 tenants" in result.stdout
    assert f"ok: {single}: clearpath-default@7" in result.stdout


def test_validate_reports_each_bad_file_and_exits_1(tmp_path: Path) -> None:
    data = default_data()
    data["profiles"]["public_assistant"]["categories"]["violence"]["bands"][1]["min"] = 0.1
    bad = write_policy(tmp_path / "bad.yaml", data)
    result = CliRunner().invoke(app(), ["policy", "validate", str(bad), str(DEFAULT_POLICY_PATH)])
    assert result.exit_code == 1
    assert (
        f"invalid: {bad}: profiles.public_assistant.categories.violence.bands[1].min"
        in result.stderr
    )
    assert f"ok: {DEFAULT_POLICY_PATH}" in result.stdout


def test_summary_markdown_to_stdout() -> None:
    result = CliRunner().invoke(app(), ["policy", "summary", "--policy", str(DEFAULT_POLICY_PATH)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Clearpath content policy")
    assert 'id="public_assistant-v7--weapons_cbrn-1"' in result.stdout


def test_summary_html_to_file(tmp_path: Path) -> None:
    out = tmp_path / "policy.html"
    result = CliRunner().invoke(
        app(), ["policy", "summary", "--format", "html", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'id="internal_tool-v7--blocklist-1"' in page


def test_summary_with_a_bad_policy_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(app(), ["policy", "summary", "--policy", str(tmp_path / "no.yaml")])
    assert result.exit_code == 1
    assert "no such file or directory" in result.stderr


def test_policy_group_shows_help_without_a_command() -> None:
    result = CliRunner().invoke(app(), ["policy"])
    assert "validate" in result.output and "summary" in result.output

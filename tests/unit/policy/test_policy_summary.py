"""The end-user summary: every clause anchored in Markdown and HTML, floors and intent explained."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt

from shared.core.policy import clause_refs, resolve_policy_ref
from shared.policy.summary import anchor_for, render_html, render_markdown
from tests.support.policy_factories import default_policy, edited_policy


def test_every_clause_ref_is_anchored_in_both_summaries() -> None:
    policy = default_policy()
    markdown, html = render_markdown(policy), render_html(policy)
    refs = clause_refs(policy)
    assert len(refs) == len(set(refs)) > 50
    for ref in refs:
        resolve_policy_ref(policy, ref)
        assert f'id="{anchor_for(ref)}"' in markdown
        assert f'id="{anchor_for(ref)}"' in html
        assert ref in html
    assert len({anchor_for(ref) for ref in refs}) == len(refs)


def test_anchor_mapping_is_documented_form() -> None:
    assert anchor_for("public_assistant@3#weapons_cbrn.1") == "public_assistant-v3--weapons_cbrn-1"


def test_html_is_a_standalone_page() -> None:
    html = render_html(default_policy())
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert '<meta charset="utf-8">' in html
    assert "<title>Clearpath content policy (version 7)</title>" in html
    assert html.rstrip().endswith("</html>")
    assert html.count("<main>") == html.count("</main>") == 1


def test_html_is_rendered_from_the_markdown() -> None:
    policy = default_policy()
    body = MarkdownIt("commonmark", {"html": True}).render(render_markdown(policy))
    assert body in render_html(policy)


def test_floors_and_intent_are_explained() -> None:
    markdown = render_markdown(default_policy())
    assert "## What nothing can change" in markdown
    assert "(#public_assistant-v7--sexual_minors-3)" in markdown
    assert "(#internal_tool-v7--weapons_cbrn-3)" in markdown
    assert "## What a declared purpose can change" in markdown
    assert "## When a request looks harmful overall" in markdown
    assert "at least 84%" in markdown
    assert "no category calls for care yet" in markdown  # v7: uncorroborated first_band
    assert "**Violence** (fiction, journalism, research, education)" in markdown
    assert "**Prompt attacks** (" not in markdown
    assert "## Profile: Public assistant (`public_assistant`)" in markdown
    assert "masked before the message goes further" in markdown
    assert "passed through unmasked" in markdown


def test_policy_text_is_escaped() -> None:
    def inject(data: dict[str, Any]) -> None:
        data["categories"]["hate"]["clauses"][1] = 'Say <script>alert("x")</script> & more'
        data["title"] = "Policy <b>bold</b>"

    policy = edited_policy(inject)
    html = render_html(policy)
    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;" in html and "&amp; more" in html
    assert "<title>Policy &lt;b&gt;bold&lt;/b&gt; (version 7)</title>" in html


def test_uncorroborated_allow_is_not_described() -> None:
    def v6(data: dict[str, Any]) -> None:
        data["unsafe"] = {"min": 0.84, "uncorroborated": "allow"}

    markdown = render_markdown(edited_policy(v6))
    assert "## When a request looks harmful overall" in markdown
    assert "no category calls for care yet" not in markdown

"""The policy layer's shell: loading policy files and rendering the end-user summary."""

from shared.policy.loader import DEFAULT_POLICY_PATH, load_policy
from shared.policy.summary import anchor_for, render_html, render_markdown

__all__ = ["DEFAULT_POLICY_PATH", "anchor_for", "load_policy", "render_html", "render_markdown"]

"""The end-user policy summary, rendered from the policy itself (Markdown; HTML from it).

Every clause appears once per profile with a stable anchor: :func:`anchor_for` maps a
policy_ref to it by replacing ``@`` with ``-v``, ``#`` with ``--`` and ``.`` with ``-``
(``public_assistant@3#weapons_cbrn.1`` → ``public_assistant-v3--weapons_cbrn-1``), so a
receipt links to ``<summary URL>#<anchor_for(policy_ref)>``. Policy text is HTML-escaped;
the HTML page is markdown-it-py's rendering of the Markdown, so there is one source.
"""

from __future__ import annotations

from html import escape
from typing import Final

from markdown_it import MarkdownIt

from shared.core.policy_model import Category, Policy
from shared.core.policy_refs import anchor_for
from shared.schemas import Action

__all__ = ["ACTION_TEXT", "anchor_for", "render_html", "render_markdown"]

#: What each action means for the person asking, in plain words.
ACTION_TEXT: Final[dict[Action, str]] = {
    "allow": "answered as asked",
    "allow_with_guidance": "answered at a high level, without operational detail",
    "refer": "general information and a referral to a professional or support resource",
    "redact": "answered with personal data masked",
    "refuse": "not answered",
    "escalate": "held for review by a person",
}


_PII_TEXT: Final[dict[Action, str]] = {
    "allow": "passed through unmasked",
    "redact": "masked before the message goes further",
}


def _text(value: str) -> str:
    """Policy text made safe for Markdown with raw HTML enabled (no markup injection)."""
    return escape(" ".join(value.split()), quote=False)


def _link(ref: str) -> str:
    return f"[`{ref}`](#{anchor_for(ref)})"


def render_markdown(policy: Policy) -> str:
    """The end-user summary of ``policy`` as Markdown."""
    lines = [f"# {_text(policy.title)}", "", f"*Policy {policy.id}, version {policy.version}.*", ""]
    if policy.intro:
        lines += [_text(policy.intro), ""]
    lines += _floors(policy) + _signal(policy) + _intent(policy)
    for name in policy.profiles:
        lines += _profile(policy, name)
    return "\n".join(lines).rstrip() + "\n"


def _floors(policy: Policy) -> list[str]:
    lines = [
        "## What nothing can change",
        "",
        "These rules are hard floors. No profile, platform setting or declared purpose can "
        "relax them.",
        "",
    ]
    for cid, floor in policy.floors.items():
        category = policy.categories[cid]
        refs = ", ".join(_link(policy.ref(p, cid, floor.clause)) for p in policy.profiles)
        lines.append(
            f"- **{_text(category.title)}**: {_text(category.clauses[floor.clause])} "
            f"Outcome: {ACTION_TEXT[floor.action]}. ({refs})"
        )
    return [*lines, ""]


def _signal(policy: Policy) -> list[str]:
    if policy.unsafe is None:
        return []
    return [
        "## When a request looks harmful overall",
        "",
        "Besides a score for each category, our classifier estimates how likely a message is "
        f"to be harmful at all. When that estimate is at least {policy.unsafe.min:.0%} and a "
        "category already calls for care, we treat the request as that category's clearest "
        "case: in most profiles it is then not answered, and the notice cites that "
        "category's rule. A declared purpose counts as it always does. Messages that no "
        "category reacts to are never refused this way.",
        "",
        *(
            [
                "When that estimate is that high but no category calls for care yet, we do "
                "not answer as if nothing were there: the category closest to calling for "
                "care is treated as if it just did, which usually means we answer at a high "
                "level or point you to a better resource. This never leads to a refusal.",
                "",
            ]
            if policy.unsafe.uncorroborated == "first_band"
            else []
        ),
    ]


def _intent(policy: Policy) -> list[str]:
    lines = [
        "## What a declared purpose can change",
        "",
        "A platform can tell us why you are asking: education, research, fiction, "
        "professional work, security research or journalism. For the categories below, "
        "and only for the purposes listed, that makes us more willing to help: a declared "
        "purpose raises the bar slightly, and a purpose your platform has verified raises it "
        "further and limits how restrictive the answer can be. Other categories, and the "
        "hard floors above, do not change with a declared purpose.",
        "",
    ]
    for cid, category in policy.categories.items():
        rule = category.intent
        if not category.relaxable or rule is None:
            continue
        purposes = ", ".join(p.replace("_", " ") for p in rule.purposes)
        lines.append(
            f"- **{_text(category.title)}** ({purposes}). With a verified purpose the strictest "
            f"outcome is: {ACTION_TEXT[rule.verified_cap]}. See clause {cid}.{rule.clause} "
            "in each profile."
        )
    return [*lines, ""]


def _profile(policy: Policy, name: str) -> list[str]:
    profile = policy.profiles[name]
    lines = [f"## Profile: {_text(profile.title)} (`{name}`)", ""]
    if profile.description:
        lines += [_text(profile.description), ""]
    pii = _PII_TEXT.get(profile.pii_action, ACTION_TEXT[profile.pii_action])
    lines += [f"Personal data in a message (email addresses, phone numbers, ...): {pii}.", ""]
    for cid, category in policy.categories.items():
        lines += [f"### {_text(category.title)}", "", _text(category.summary), ""]
        notes = _clause_notes(policy, name, cid, category)
        for number, text in category.clauses.items():
            ref = policy.ref(name, cid, number)
            note = f" *In this profile: {'; '.join(notes[number])}.*" if notes.get(number) else ""
            lines.append(f'- <a id="{anchor_for(ref)}"></a>**`{ref}`** {_text(text)}{note}')
        lines.append("")
    return lines


def _clause_notes(
    policy: Policy, profile: str, cid: str, category: Category
) -> dict[int, list[str]]:
    """What each clause leads to in ``profile``: the actions of the rules that cite it."""
    notes: dict[int, list[str]] = {}

    def add(number: int, note: str) -> None:
        if note not in notes.setdefault(number, []):
            notes[number].append(note)

    bands = policy.profiles[profile].categories.get(cid)
    for band in bands.bands if bands else ():
        add(band.clause, ACTION_TEXT[band.action])
    floor = policy.floors.get(cid)
    if floor is not None:
        add(floor.clause, f"{ACTION_TEXT[floor.action]}, whatever else applies")
    if category.intent is not None:
        purposes = ", ".join(p.replace("_", " ") for p in category.intent.purposes)
        add(category.intent.clause, f"applies when you declare: {purposes}")
    if cid == "blocklist":
        add(policy.blocklist.clause, ACTION_TEXT[policy.blocklist.action])
    pii_action = policy.profiles[profile].pii_action
    if cid == policy.pii.category and pii_action != "allow":
        add(policy.pii.clause, ACTION_TEXT[pii_action])
    return notes


_STYLE: Final = """
body { font: 16px/1.55 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fff; }
main { max-width: 46rem; margin: 0 auto; padding: 1.5rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
li { margin: 0.4rem 0; }
code { font-size: 0.9em; }
a[id]:target + strong { background: #fff3b0; }
""".strip()


def render_html(policy: Policy) -> str:
    """The end-user summary of ``policy`` as a complete, standalone HTML page."""
    body = MarkdownIt("commonmark", {"html": True}).render(render_markdown(policy))
    title = escape(f"{policy.title} (version {policy.version})")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n"
        f"<body>\n<main>\n{body}</main>\n</body>\n</html>\n"
    )

"""Receipt wording as data: per category a one-line reason and 1-3 permitted next steps.

Plain language, one line each, no phone numbers beyond the generic "988 in the US"
example. English only for now: :data:`TEXTS` is keyed by language and
``shared.core.responses`` falls back to English for any other locale. To add a
language, add a ``LocaleText`` under its primary subtag (``"de"``) with the same
categories; the table test checks every (category, action) pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from shared.schemas import Action

__all__ = ["DEFAULT_CATEGORY", "DEFAULT_LOCALE", "EN", "TEXTS", "CategoryText", "LocaleText"]

DEFAULT_LOCALE: Final = "en"
#: Key of the entry used for categories a policy adds that the table does not name.
DEFAULT_CATEGORY: Final = "_default"


@dataclass(frozen=True, slots=True)
class CategoryText:
    """Wording for one category. ``reasons`` overrides the action templates per action."""

    label: str
    refuse: str
    alternatives: tuple[str, ...]
    referral: tuple[str, ...] = ()
    reasons: Mapping[Action, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LocaleText:
    """Everything one language needs to write a receipt.

    ``guidance``, ``refer`` and ``escalate`` are templates over the category ``{label}``;
    ``redact`` and ``redact_unknown`` are for masked personal data (``{kinds}``), named by
    ``pii_kinds`` (a kind it lacks reads as its id in words, or ``pii_other``).
    """

    categories: Mapping[str, CategoryText]
    guidance: str
    refer: str
    escalate: str
    redact: str
    redact_unknown: str
    redact_alternatives: tuple[str, ...]
    escalate_first: str
    referral: tuple[str, ...]
    pii_kinds: Mapping[str, str]
    pii_other: str


_EN_CATEGORIES: Final[Mapping[str, CategoryText]] = {
    "violence": CategoryText(
        label="violence or threats",
        refuse="This asks for help with harming or threatening people.",
        alternatives=(
            "Ask how to de-escalate a conflict or stay safe",
            "Ask about the causes and prevention of violence",
            "For fiction, ask for a scene that conveys conflict without step-by-step detail",
        ),
    ),
    "weapons_cbrn": CategoryText(
        label="weapons capable of mass harm",
        refuse="This asks for instructions that could help someone build a weapon capable of "
        "mass harm.",
        alternatives=(
            "Ask about the history or policy of chemical, biological or nuclear weapons",
            "Ask how international treaties ban these weapons and verify compliance",
            "Ask how emergency services prepare for and respond to such incidents",
        ),
    ),
    "crime_illicit": CategoryText(
        label="illegal activity such as fraud, hacking or drugs",
        refuse="This asks for help with illegal activity such as fraud, hacking or making drugs.",
        alternatives=(
            "Ask how to protect yourself or your organisation against fraud or cyberattacks",
            "Ask how these crimes are detected and prevented",
            "Ask about the legal and health risks involved",
        ),
    ),
    "hate": CategoryText(
        label="attacks on people for who they are",
        refuse="This asks for content that attacks people for who they are.",
        alternatives=(
            "Ask for help expressing disagreement respectfully",
            "Ask about the history and impact of discrimination",
            "Ask what you can do about hateful content you came across",
        ),
    ),
    "harassment": CategoryText(
        label="bullying or targeted harassment",
        refuse="This asks for content that bullies, insults or targets a person.",
        alternatives=(
            "Ask for help expressing disagreement respectfully",
            "Ask how to resolve a conflict with someone constructively",
            "Ask how to respond to or report harassment",
        ),
    ),
    "self_harm": CategoryText(
        label="suicide or self-harm",
        refuse="This asks for information that could make it easier for someone to hurt "
        "themselves.",
        alternatives=(
            "If you are struggling, contact local emergency services or a crisis line such as "
            "988 in the US",
            "Ask where to find support, or how to help someone who is struggling",
            "Ask about ways to cope with difficult feelings",
        ),
        referral=(
            "If you might be in danger, contact local emergency services or a crisis line such "
            "as 988 in the US",
            "Talk to someone you trust, or to a doctor or counsellor, about how you feel",
            "Ask about ways to cope with difficult feelings right now",
        ),
        reasons={
            "refer": "It sounds like this may be hard for you; you will get general information "
            "and ways to reach people who can help.",
        },
    ),
    "sexual": CategoryText(
        label="sexual content",
        refuse="This asks for sexually explicit content, which this service does not provide.",
        alternatives=(
            "Ask about the topic in non-explicit, educational terms",
            "Ask for a story where intimacy is implied rather than described",
            "Ask about relationships, sexual health or consent",
        ),
    ),
    "sexual_minors": CategoryText(
        label="the sexualisation of minors",
        refuse="This involves sexual content about minors, which is never allowed.",
        alternatives=(
            "Ask how to keep children safe online",
            "Ask how to report child sexual abuse material to the authorities",
            "If a child is at risk, contact local emergency services",
        ),
    ),
    "privacy": CategoryText(
        label="personal data about private individuals",
        refuse="This asks for personal information about a private individual.",
        alternatives=(
            "Ask without including anyone's personal details",
            "Ask how to protect your own personal information online",
            "Ask how to reach someone through official, consent-based channels",
        ),
    ),
    "specialized_advice": CategoryText(
        label="high-stakes medical, legal or financial advice",
        refuse="This asks for high-stakes medical, legal or financial advice that needs a "
        "qualified professional.",
        alternatives=(
            "Ask for general information about the topic",
            "Ask what to prepare before talking to a professional",
            "Talk to a qualified doctor, lawyer or financial adviser",
        ),
        referral=(
            "Talk to a qualified doctor, lawyer or financial adviser about your situation",
            "Ask what general information to prepare before that conversation",
            "In an emergency, contact local emergency services",
        ),
        reasons={
            "allow_with_guidance": "This asks for specialised advice, so the answer will stay "
            "general and is no substitute for a professional.",
            "refer": "The right answer depends on your situation; you will get general "
            "information and a pointer to a qualified professional.",
        },
    ),
    "prompt_attack": CategoryText(
        label="attempts to override the assistant's instructions",
        refuse="This tries to override the assistant's safety instructions.",
        alternatives=(
            "Ask your question directly, without instructions to ignore the rules",
            "Describe the task you want help with",
        ),
    ),
    "blocklist": CategoryText(
        label="terms this platform does not allow",
        refuse="This contains terms that this platform does not allow.",
        alternatives=(
            "Rephrase your message without the blocked terms",
            "Ask about the topic in neutral language",
        ),
    ),
    DEFAULT_CATEGORY: CategoryText(
        label="content this service restricts",
        refuse="This falls under content that the policy for this service does not allow.",
        alternatives=(
            "Ask about the topic in general, educational terms",
            "Rephrase your request without the restricted part",
        ),
    ),
}

EN: Final = LocaleText(
    categories=_EN_CATEGORIES,
    guidance="This touches on {label}, so the answer will stay high level, without "
    "step-by-step or operational detail.",
    refer="This touches on {label}; you will get general information and a pointer to people "
    "who can help with your situation.",
    escalate="This message is held for review by a person because it may involve {label}.",
    redact="Personal data in your message ({kinds}) was masked before it was passed on.",
    redact_unknown="Personal data in your message was masked before it was passed on.",
    redact_alternatives=(
        "Continue with the masked version of your message",
        "Share personal details only through channels meant for them",
        "Ask without including anyone's personal details",
    ),
    escalate_first="Wait for the review; you will be told the outcome",
    referral=(
        "Contact a qualified professional or support service about your situation",
        "If anyone is in immediate danger, contact local emergency services",
    ),
    pii_kinds={
        "email": "email address",
        "phone": "phone number",
        "payment_card": "payment card number",
        "iban": "bank account number",
        "us_ssn": "US Social Security number",
        "ip_address": "IP address",
        "address": "postal address",
        "name": "name",
    },
    pii_other="other personal data",
)

#: Receipt wording by language (primary BCP 47 subtag).
TEXTS: Final[Mapping[str, LocaleText]] = {DEFAULT_LOCALE: EN}

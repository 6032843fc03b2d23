"""Cache keys: deterministic, sensitive to every input the core reads, never the raw text."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.fingerprint import KEY_PREFIX, cache_key, normalise_text
from shared.schemas import Intent
from tests.support.factories import make_request

BASE: dict[str, Any] = {"text": "Tell me about the weather in Lisbon", "tenant_id": "t1"}


def _key(policy: str = "default@4#abc", model: str = "lexical@1", **fields: Any) -> str:
    return cache_key(
        make_request(**{**BASE, **fields}), policy_fingerprint=policy, model_version=model
    )


def test_identical_input_gives_the_same_key_whatever_the_request_id_or_time() -> None:
    assert _key() == _key(request_id="other", conversation_id="c9")
    assert _key().startswith(KEY_PREFIX)
    assert len(_key()) == len(KEY_PREFIX) + 64


@pytest.mark.parametrize(
    "change",
    [
        {"text": "Tell me about the weather in Porto"},
        {"tenant_id": "t2"},
        {"profile": "internal_tool"},
        {"intent": Intent(purpose="research")},
        {"locale": "fr-FR"},
        {"role": "assistant"},
        {"policy": "default@5#abc"},
        {"policy": "default@4#abc+t1@2#def"},
        {"model": "lexical@1+minilm-l6-int8@cpu#1b7c+head@2"},
    ],
)
def test_each_input_changes_the_key(change: dict[str, Any]) -> None:
    assert _key(**change) != _key()


def test_verified_intent_and_purpose_are_distinguished() -> None:
    unverified = _key(intent=Intent(purpose="research"))
    verified = _key(intent=Intent(purpose="research", verified=True))
    fiction = _key(intent=Intent(purpose="fiction"))
    assert len({unverified, verified, fiction, _key()}) == 4


def test_the_intent_statement_is_not_part_of_the_key() -> None:
    a = _key(intent=Intent(purpose="research", statement="for my thesis"))
    b = _key(intent=Intent(purpose="research", statement="for a class"))
    assert a == b


def test_tenants_never_share_a_key_even_under_the_same_policy() -> None:
    assert _key(tenant_id="acme") != _key(tenant_id="globex")


def test_light_normalisation_only_nfc_and_outer_whitespace() -> None:
    assert _key(text="  Tell me about the weather in Lisbon\n") == _key()
    assert normalise_text("Cafe\u0301") == "Caf\u00e9"
    assert _key(text="Cafe\u0301") == _key(text="Caf\u00e9")
    assert _key(text="tell me about the weather in lisbon") != _key()
    assert _key(text="Tell me  about the weather in Lisbon") != _key()


def test_no_raw_text_in_the_key() -> None:
    text = "secret phrase alice@example.com"
    key = _key(text=text)
    assert all(part not in key for part in text.split())
    assert key[len(KEY_PREFIX) :].isalnum()


def test_fields_cannot_run_into_each_other() -> None:
    assert _key(tenant_id="ab", profile="c") != _key(tenant_id="a", profile="bc")

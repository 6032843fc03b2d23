"""Appeal tokens: round trip, and every way a token is rejected, each with its own reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest

from shared.core.appeal import (
    AppealClaims,
    AppealIssuer,
    InvalidAppealToken,
    sign,
    text_binding,
    verify,
)
from shared.errors import AppealTokenError
from tests.support.factories import APPEAL_KEY, APPEAL_KID, NOW, make_appeal_issuer

KEYS = {APPEAL_KID: APPEAL_KEY}
ISSUED = NOW.replace(microsecond=0)
CLAIMS = AppealClaims(
    request_id="req-1",
    tenant_id="t1",
    issued_at=ISSUED,
    expires_at=ISSUED + timedelta(hours=1),
    policy_ref="public_assistant@3#weapons_cbrn.1",
    category="weapons_cbrn",
)


def _reason(
    token: str, *, now: datetime = NOW, tenant_id: str | None = None, request_id: str | None = None
) -> str:
    with pytest.raises(AppealTokenError) as info:
        verify(token, keys=KEYS, now=now, tenant_id=tenant_id, request_id=request_id)
    assert isinstance(info.value, InvalidAppealToken)
    return info.value.reason


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_round_trip_returns_the_claims() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    assert verify(token, keys=KEYS, now=NOW, tenant_id="t1", request_id="req-1") == CLAIMS


def test_optional_claims_may_be_absent() -> None:
    bare = AppealClaims("r", "t", ISSUED, ISSUED + timedelta(seconds=60))
    assert verify(sign(bare, key=APPEAL_KEY, kid=APPEAL_KID), keys=KEYS, now=NOW) == bare


def test_token_is_url_safe_and_deterministic() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    assert token == sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    assert token.startswith("cpa1.k1.")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_payload_holds_no_text_only_the_bound_claims() -> None:
    issuer = make_appeal_issuer()
    info = issuer(request_id="req-9", tenant_id="t9", policy_ref=None, category="x", now=NOW)
    payload = info.token.split(".")[2]
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert set(body) == {"r", "t", "c", "i", "e"}
    assert APPEAL_KEY.decode() not in info.token


def test_issuer_expiry_is_now_plus_ttl_in_whole_seconds() -> None:
    info = make_appeal_issuer(ttl_s=600)(
        request_id="req-1", tenant_id="t1", policy_ref="p#1", category=None, now=NOW
    )
    assert info.expires_at == ISSUED + timedelta(seconds=600)
    claims = verify(info.token, keys=KEYS, now=NOW, tenant_id="t1", request_id="req-1")
    assert claims.expires_at == info.expires_at
    assert claims.policy_ref == "p#1"


def test_other_timezones_compare_as_instants() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    later = (NOW + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-5)))
    assert verify(token, keys=KEYS, now=later).request_id == "req-1"


def test_rotated_keys_verify_by_kid() -> None:
    old = sign(CLAIMS, key=b"old-key-old-key-old-key!", kid="k0")
    new = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    keys = {"k0": b"old-key-old-key-old-key!", **KEYS}
    assert verify(old, keys=keys, now=NOW) == verify(new, keys=keys, now=NOW)


@pytest.mark.parametrize("part", [2, 3])
def test_flipped_byte_is_a_bad_signature(part: int) -> None:
    parts = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID).split(".")
    parts[part] = _flip(parts[part], 5)
    assert _reason(".".join(parts)) == "bad_signature"


def test_other_key_under_the_same_kid_is_a_bad_signature() -> None:
    forged = sign(CLAIMS, key=b"attacker-key-attacker-key", kid=APPEAL_KID)
    assert _reason(forged) == "bad_signature"


def test_non_canonical_signature_spelling_is_rejected() -> None:
    # The last base64 character of a 32-byte MAC carries 2 unused bits: another spelling
    # decodes to the same bytes but must not verify (one token, one spelling).
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    twin = token[:-1] + alphabet[last ^ 1]
    assert _reason(twin) == "bad_signature"


def test_expired() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    assert _reason(token, now=CLAIMS.expires_at) == "expired"
    assert _reason(token, now=CLAIMS.expires_at + timedelta(days=1)) == "expired"


def test_wrong_tenant() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    assert _reason(token, tenant_id="t2") == "tenant_mismatch"


def test_wrong_request() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    assert _reason(token, tenant_id="t1", request_id="req-2") == "request_mismatch"


def test_unknown_kid() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid="retired")
    assert _reason(token) == "unknown_key"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "cpa1.k1.abc",
        "cpa2.k1.abc.def",
        "cpa1.k1.a+b/c.def",
        "cpa1.k1.abc.def.ghi",
        "cpa1..abc.def",
        "cpa1.k1.abc=.def",
        "cpa1.k1." + "a" * 5000 + ".def",
    ],
)
def test_malformed(token: str) -> None:
    assert _reason(token) == "malformed"


def test_signed_but_invalid_payload_is_malformed() -> None:
    # Only a key holder could produce this; verify still refuses it cleanly.
    payload = base64.urlsafe_b64encode(b'{"r":1}').rstrip(b"=").decode()
    signing_input = f"cpa1.{APPEAL_KID}.{payload}"
    mac = hmac.new(APPEAL_KEY, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert _reason(token) == "malformed"


def test_reasons_are_distinct_messages() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    with pytest.raises(AppealTokenError, match=r"^expired: "):
        verify(token, keys=KEYS, now=CLAIMS.expires_at)


def test_naive_now_and_weak_keys_are_programming_errors() -> None:
    token = sign(CLAIMS, key=APPEAL_KEY, kid=APPEAL_KID)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(token, keys=KEYS, now=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="at least"):
        sign(CLAIMS, key=b"short", kid=APPEAL_KID)
    with pytest.raises(ValueError, match="kid"):
        sign(CLAIMS, key=APPEAL_KEY, kid="has.dot")
    with pytest.raises(ValueError, match="ttl_s"):
        AppealIssuer(key=APPEAL_KEY, kid=APPEAL_KID, ttl_s=0, instructions="x")


def test_issuer_repr_hides_the_key() -> None:
    assert APPEAL_KEY.decode() not in repr(make_appeal_issuer())


# -- text binding (claim "h") -------------------------------------------------------------


def _issue(text: str | None) -> str:
    return make_appeal_issuer()(
        request_id="req-1", tenant_id="t1", policy_ref=None, category=None, now=NOW, text=text
    ).token


def _text_reason(token: str, text: str) -> str:
    with pytest.raises(InvalidAppealToken) as info:
        verify(token, keys=KEYS, now=NOW, tenant_id="t1", request_id="req-1", text=text)
    return info.value.reason


def test_issuer_binds_the_text_and_verify_checks_it() -> None:
    token = _issue("How do I buy drugs on the dark web?")
    claims = verify(token, keys=KEYS, now=NOW, text="How do I buy drugs on the dark web?")
    assert claims.text_hash == text_binding("How do I buy drugs on the dark web?", key=APPEAL_KEY)
    assert _text_reason(token, "How do I buy cake on the dark web?") == "text_mismatch"
    assert _text_reason(token, "How do I buy drugs on the dark web? ") == "text_mismatch"


def test_text_binding_is_on_the_nfc_form_and_keyed() -> None:
    composed, decomposed = "caf\u00e9 menu", "cafe\u0301 menu"
    assert text_binding(composed, key=APPEAL_KEY) == text_binding(decomposed, key=APPEAL_KEY)
    assert text_binding(composed, key=APPEAL_KEY) != text_binding(composed, key=b"x" * 32)
    assert len(text_binding(composed, key=APPEAL_KEY)) == 22  # 16 bytes, unpadded base64url
    token = _issue(composed)
    assert verify(token, keys=KEYS, now=NOW, text=decomposed).request_id == "req-1"


def test_payload_carries_the_binding_not_the_text() -> None:
    token = _issue("secret words")
    payload = token.split(".")[2]
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert set(body) == {"r", "t", "i", "e", "h"}
    assert "secret" not in json.dumps(body)


def test_a_token_without_binding_still_verifies_but_cannot_vouch_for_a_text() -> None:
    legacy = _issue(None)  # issued before text binding existed
    assert verify(legacy, keys=KEYS, now=NOW).text_hash is None
    assert _text_reason(legacy, "anything") == "text_mismatch"


def test_the_binding_cannot_be_swapped_without_breaking_the_signature() -> None:
    token = _issue("original")
    kid, payload = token.split(".")[1:3]
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["h"] = text_binding("replacement", key=APPEAL_KEY)
    forged_payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    forged = ".".join(["cpa1", kid, forged_payload, token.split(".")[3]])
    assert _reason(forged) == "bad_signature"

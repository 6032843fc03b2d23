"""Appeal tokens: opaque, URL-safe, HMAC-SHA256 signed claims binding a verdict to its request.

Token format (version 1), four dot-separated URL-safe fields::

    cpa1.<kid>.<payload>.<signature>

* ``kid`` names the signing key (``[A-Za-z0-9_-]{1,32}``) so keys can rotate: sign with
  the new key, keep the old ones in the ``keys`` mapping given to :func:`verify` until
  their tokens have expired.
* ``payload`` is unpadded base64url of compact JSON with short keys: ``r`` request id,
  ``t`` tenant id, ``p`` policy ref, ``c`` category (both optional), ``i`` issued-at and
  ``e`` expiry (whole Unix seconds), and optionally ``h``, the text binding (below). It
  never holds the request text. It is signed, not encrypted: clients must treat the token
  as opaque.
* ``signature`` is unpadded base64url of HMAC-SHA256(key, ``"cpa1.<kid>.<payload>"``),
  compared in constant time against its canonical encoding (so one token has one spelling).

**Text binding** (``h``, optional so earlier tokens still parse): the first 16 bytes of
HMAC-SHA256(key, ``"cpa1-text\0"`` + the NFC-normalised request text, UTF-8), unpadded
base64url. An appeal carries the original text (the audit trail keeps no text); passing it
to :func:`verify` proves it is the text the verdict was given for (``text_mismatch``
otherwise, also for a token without ``h``). Keyed, so the token reveals nothing that would
let anyone confirm a guess of the text.

The signature is checked before the payload is parsed. Time is passed in; nothing here
reads the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from shared.errors import AppealTokenError
from shared.schemas import AppealInfo

__all__ = [
    "MIN_KEY_BYTES",
    "TOKEN_VERSION",
    "AppealClaims",
    "AppealIssuer",
    "AppealSigner",
    "AppealTokenReason",
    "InvalidAppealToken",
    "sign",
    "text_binding",
    "verify",
]

TOKEN_VERSION: Final = "cpa1"
#: Shortest HMAC key accepted (RFC 2104 advises at least the hash output, 32 bytes).
MIN_KEY_BYTES: Final = 16
_MAX_TOKEN_CHARS: Final = 2048
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")

AppealTokenReason = Literal[
    "malformed",
    "unknown_key",
    "bad_signature",
    "expired",
    "tenant_mismatch",
    "request_mismatch",
    "text_mismatch",
]
_TEXT_DOMAIN: Final = b"cpa1-text\x00"
_TEXT_BINDING_BYTES: Final = 16


class InvalidAppealToken(AppealTokenError):
    """An :class:`AppealTokenError` that says which check failed (``reason``, a stable name)."""

    def __init__(self, reason: AppealTokenReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: AppealTokenReason = reason


@dataclass(frozen=True, slots=True)
class AppealClaims:
    """What an appeal token binds. Datetimes are timezone-aware, whole seconds."""

    request_id: str
    tenant_id: str
    issued_at: datetime
    expires_at: datetime
    policy_ref: str | None = None
    category: str | None = None
    text_hash: str | None = None


def text_binding(text: str, *, key: bytes) -> str:
    """The ``h`` claim for ``text``: a truncated, keyed hash of its NFC form (see module doc)."""
    normal = unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")
    mac = hmac.new(key, _TEXT_DOMAIN + normal, hashlib.sha256).digest()
    return _b64encode(mac[:_TEXT_BINDING_BYTES])


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


def _signature(key: bytes, signing_input: str) -> str:
    return _b64encode(hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest())


def sign(claims: AppealClaims, *, key: bytes, kid: str) -> str:
    """Serialise and sign ``claims`` with ``key`` (named ``kid``); return the token."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"appeal key must be at least {MIN_KEY_BYTES} bytes")
    if not _KID.fullmatch(kid):
        raise ValueError("kid must be 1-32 characters of [A-Za-z0-9_-]")
    body: dict[str, Any] = {
        "r": claims.request_id,
        "t": claims.tenant_id,
        "i": int(_aware(claims.issued_at, "issued_at").timestamp()),
        "e": int(_aware(claims.expires_at, "expires_at").timestamp()),
    }
    if claims.policy_ref is not None:
        body["p"] = claims.policy_ref
    if claims.category is not None:
        body["c"] = claims.category
    if claims.text_hash is not None:
        body["h"] = claims.text_hash
    compact = json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    signing_input = f"{TOKEN_VERSION}.{kid}.{_b64encode(compact.encode('utf-8'))}"
    return f"{signing_input}.{_signature(key, signing_input)}"


def verify(
    token: str,
    *,
    keys: Mapping[str, bytes],
    now: datetime,
    tenant_id: str | None = None,
    request_id: str | None = None,
    text: str | None = None,
) -> AppealClaims:
    """Check ``token`` and return its claims, or raise :class:`InvalidAppealToken`.

    Checks, in order: shape (``malformed``), key id (``unknown_key``), signature
    (``bad_signature``), expiry against ``now`` (``expired``), then the expected tenant,
    request and text when given (``tenant_mismatch``, ``request_mismatch``,
    ``text_mismatch``).
    """
    _aware(now, "now")
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
        raise InvalidAppealToken("malformed", "not a token of acceptable length")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != TOKEN_VERSION:
        raise InvalidAppealToken("malformed", "not a version-1 appeal token")
    _, kid, payload, signature = parts
    if not (_KID.fullmatch(kid) and _B64URL.fullmatch(payload) and _B64URL.fullmatch(signature)):
        raise InvalidAppealToken("malformed", "token fields are not URL-safe base64")
    key = keys.get(kid)
    if key is None:
        raise InvalidAppealToken("unknown_key", f"no key with id {kid!r}")
    expected = _signature(key, f"{TOKEN_VERSION}.{kid}.{payload}")
    if not hmac.compare_digest(expected, signature):
        raise InvalidAppealToken("bad_signature", "signature does not match")
    claims = _parse(payload)
    if now >= claims.expires_at:
        raise InvalidAppealToken("expired", f"expired at {claims.expires_at.isoformat()}")
    if tenant_id is not None and claims.tenant_id != tenant_id:
        raise InvalidAppealToken("tenant_mismatch", "token was issued to another tenant")
    if request_id is not None and claims.request_id != request_id:
        raise InvalidAppealToken("request_mismatch", "token was issued for another request")
    if text is not None:
        if claims.text_hash is None:
            raise InvalidAppealToken("text_mismatch", "token does not bind the request text")
        if not hmac.compare_digest(text_binding(text, key=key), claims.text_hash):
            raise InvalidAppealToken("text_mismatch", "text is not the text the verdict was for")
    return claims


def _parse(payload: str) -> AppealClaims:
    """Decode a payload whose signature has already been checked."""
    try:
        body = json.loads(_b64decode(payload).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidAppealToken("malformed", "payload is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidAppealToken("malformed", "payload is not an object")
    r, t, i, e = body.get("r"), body.get("t"), body.get("i"), body.get("e")
    p, c, h = body.get("p"), body.get("c"), body.get("h")
    if not (isinstance(r, str) and isinstance(t, str)):
        raise InvalidAppealToken("malformed", "payload lacks request or tenant")
    if type(i) is not int or type(e) is not int:
        raise InvalidAppealToken("malformed", "payload lacks issue or expiry time")
    if not all(v is None or isinstance(v, str) for v in (p, c, h)):
        raise InvalidAppealToken("malformed", "policy ref, category or text binding is not text")
    try:
        issued, expires = (datetime.fromtimestamp(v, UTC) for v in (i, e))
    except (OverflowError, OSError, ValueError):
        raise InvalidAppealToken("malformed", "timestamps out of range") from None
    return AppealClaims(r, t, issued, expires, policy_ref=p, category=c, text_hash=h)


class AppealSigner(Protocol):
    """What the response composer calls to attach an appeal path to a receipt.

    ``text`` is the request text; when given the token binds it (claim ``h``).
    """

    def __call__(
        self,
        *,
        request_id: str,
        tenant_id: str,
        policy_ref: str | None,
        category: str | None,
        now: datetime,
        text: str | None = None,
    ) -> AppealInfo: ...


@dataclass(frozen=True, slots=True)
class AppealIssuer:
    """An :class:`AppealSigner` over one current key: tokens live ``ttl_s`` seconds.

    ``issued_at`` is ``now`` truncated to whole seconds; ``expires_at`` is that plus
    ``ttl_s`` and is what :class:`AppealInfo` reports, so the two always agree.
    """

    key: bytes = field(repr=False)
    kid: str
    ttl_s: int
    instructions: str

    def __post_init__(self) -> None:
        if self.ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(f"appeal key must be at least {MIN_KEY_BYTES} bytes")
        if not _KID.fullmatch(self.kid):
            raise ValueError("kid must be 1-32 characters of [A-Za-z0-9_-]")

    def __call__(
        self,
        *,
        request_id: str,
        tenant_id: str,
        policy_ref: str | None,
        category: str | None,
        now: datetime,
        text: str | None = None,
    ) -> AppealInfo:
        issued = _aware(now, "now").replace(microsecond=0)
        claims = AppealClaims(
            request_id=request_id,
            tenant_id=tenant_id,
            issued_at=issued,
            expires_at=issued + timedelta(seconds=self.ttl_s),
            policy_ref=policy_ref,
            category=category,
            text_hash=None if text is None else text_binding(text, key=self.key),
        )
        token = sign(claims, key=self.key, kid=self.kid)
        return AppealInfo(token=token, expires_at=claims.expires_at, instructions=self.instructions)

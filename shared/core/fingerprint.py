"""Verdict cache keys: what makes two requests answerable by the same verdict (pure).

A key is ``cp:v1:`` + SHA-256 hex over a length-prefixed sequence of fields; the text is
only ever hashed, never written into a key. The fields are exactly the inputs the core
reads to produce a verdict:

* the **text**, normalised lightly: Unicode NFC and outer whitespace stripped. Nothing
  heavier (case folding, inner whitespace) because verdicts carry text-derived parts
  (``redacted_text``, the receipt's ``rewrite``) computed from the original offsets; even
  NFC and stripping can shift them, so :func:`text_digest` (of the exact text) travels
  with the cached value and a text-derived verdict is served only to the exact same text
  (see :meth:`shared.core.cached_verdict.CachedVerdict.serves`);
* the **tenant** id: tenant lists and overrides differ, and sharing entries across tenants
  would let one tenant learn by timing what another sent;
* the **policy fingerprint** (:meth:`Policy.fingerprint`: policy and tenant override
  versions plus a content digest) and the **model version** (every detector, variant,
  provider and head), so a policy or model change can never serve a stale verdict;
* the **profile**, **intent purpose** and **verified** flag (the policy reads them), the
  **locale** (receipt language, PII regions) and the **role** (cheap, low-cardinality).

The intent ``statement`` is left out: neither the policy nor the receipt reads it, and
free text in the key would defeat the cache. A change to what the core reads must add
the field here and bump :data:`KEY_VERSION`.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Final

from shared.schemas import ModerationRequest

__all__ = ["KEY_PREFIX", "KEY_VERSION", "cache_key", "normalise_text", "text_digest"]

KEY_VERSION: Final = "v1"
KEY_PREFIX: Final = f"cp:{KEY_VERSION}:"


def normalise_text(text: str) -> str:
    """The text as the key sees it: NFC, outer whitespace stripped."""
    return unicodedata.normalize("NFC", text).strip()


def text_digest(text: str) -> str:
    """SHA-256 hex of the exact text (binds text-derived verdict parts to their source)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(request: ModerationRequest, *, policy_fingerprint: str, model_version: str) -> str:
    """The cache key of ``request`` under this policy and these detectors."""
    intent = request.intent
    fields = (
        KEY_VERSION,
        request.tenant_id,
        policy_fingerprint,
        model_version,
        request.profile,
        intent.purpose if intent is not None else "",
        "verified" if intent is not None and intent.verified else "",
        request.locale or "",
        request.role,
        normalise_text(request.text),
    )
    digest = hashlib.sha256()
    for value in fields:
        raw = value.encode("utf-8", "surrogatepass")
        # Length-prefixed so no two field sequences hash the same bytes.
        digest.update(len(raw).to_bytes(8, "big") + raw)
    return KEY_PREFIX + digest.hexdigest()

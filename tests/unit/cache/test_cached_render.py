"""The workers' cache-hit path writes JSON directly: it must decode to what the models give.

``render_cached`` against ``from_cached`` and ``cache_hit_event_json`` against
``verdict_event``, over the shapes a cached verdict takes (allow, a receipt with and without
a rewrite, redacted text, intent, no conversation, a non-UTC submission time, every audit text
mode), plus how :class:`CachedEntry` reads what the cache holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from shared.audit.build import cache_hit_event_json, evidence_of, verdict_event
from shared.audit.events import TextMode, VerdictAuditEvent
from shared.core.cached_verdict import (
    CachedEntry,
    CachedVerdict,
    from_cached,
    render_cached,
    to_cached,
)
from shared.core.pii import find_pii, redact
from shared.core.responses import compose_verdict
from shared.schemas import Action, Intent, LexicalHit, ModerationRequest, Verdict
from tests.support.factories import (
    NOW,
    FakeRecheck,
    make_appeal_issuer,
    make_decision,
    make_decision_message,
    make_detection,
    make_request,
)

KEY = b"audit-test-key-0123456789abcdef!"
EMAIL = "bob@example.com"
TEXT = f"write to {EMAIL} about the zorblax"
LATER = NOW + timedelta(minutes=3, microseconds=123_456)  # the snapshot keeps it as text


def _stored(
    action: Action, *, rewrite: bool = False, text: str = TEXT
) -> tuple[CachedVerdict, str]:
    """A verdict the pipeline composed, as the cache stores it; and its text."""
    request = make_request(text=text, conversation_id="c1")
    detection = make_detection(
        {"violence": 0.125, "privacy": 0.875},
        pii=find_pii(text),
        hits=(
            LexicalHit(list="blocklist", entry_id="e-1", category="crime_illicit", start=0, end=5),
        ),
    )
    decision = make_decision(action, category="privacy" if action != "allow" else None)
    message = make_decision_message(request=request, detection=detection, decision=decision)
    verdict = compose_verdict(
        message,
        now=NOW,
        sign_appeal=make_appeal_issuer(),
        recheck=FakeRecheck("allow" if rewrite else "refuse"),
        redact=redact,
    )
    cached = to_cached(
        verdict,
        category=decision.primary_category,
        text=text,
        evidence=evidence_of(detection, decision),
    )
    return CachedVerdict.decode(cached.encode()), text


SHAPES: dict[str, tuple[Action, bool]] = {
    "allow": ("allow", False),
    "refuse": ("refuse", False),
    "refuse_with_rewrite": ("refuse", True),
    "redact": ("redact", False),
    "guidance": ("allow_with_guidance", False),
}


def _requests(text: str) -> list[ModerationRequest]:
    return [
        make_request(request_id="r-2", tenant_id="t9", text=text, conversation_id="c7"),
        make_request(request_id="r-3", text=text, conversation_id=None, locale="en-GB"),
        make_request(
            request_id="r-4",
            text=text,
            intent=Intent(purpose="research", statement=f"I am {EMAIL}", verified=True),
            submitted_at=datetime(2026, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=2))),
        ),
    ]


def _both(shape: str) -> list[tuple[CachedVerdict, ModerationRequest]]:
    action, rewrite = SHAPES[shape]
    cached, text = _stored(action, rewrite=rewrite)
    return [(cached, r) for r in _requests(text)]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_rendered_hit_decodes_to_the_verdict_from_cached_gives(shape: str) -> None:
    for cached, request in _both(shape):
        entry = CachedEntry.parse(cached.encode())
        assert entry is not None
        kwargs: dict[str, Any] = {
            "now": LATER,
            "sign_appeal": make_appeal_issuer(),
            "timings_ms": {"cache": 0.25},
        }
        expected = from_cached(cached, request, **kwargs)
        rendered = render_cached(entry, request, **kwargs)
        assert Verdict.model_validate_json(rendered.json) == expected
        assert (rendered.appeal is None) == (expected.receipt is None)
        # Field for field, order included: consumers that diff raw JSON see no change.
        assert list(orjson.loads(rendered.json)) == list(
            orjson.loads(expected.model_dump_json(exclude_none=True))
        )


@pytest.mark.parametrize("mode", ["none", "redacted", "full"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_rendered_audit_event_decodes_to_the_event_verdict_event_gives(
    shape: str, mode: TextMode
) -> None:
    for cached, request in _both(shape):
        entry = CachedEntry.parse(cached.encode())
        assert entry is not None
        issuer = make_appeal_issuer()
        rendered = render_cached(
            entry, request, now=LATER, sign_appeal=issuer, timings_ms={"cache": 1.5}
        )
        verdict = from_cached(
            cached, request, now=LATER, sign_appeal=issuer, timings_ms={"cache": 1.5}
        )
        common: dict[str, Any] = {
            "event_id": "ev-7",
            "source": "detection",
            "request": request,
            "mode": mode,
            "hash_key": KEY,
            "hash_key_id": "k1",
        }
        expected = verdict_event(verdict=verdict, evidence=cached.evidence, pii=None, **common)
        got = cache_hit_event_json(entry=entry, rendered=rendered, **common)
        assert VerdictAuditEvent.model_validate_json(got) == expected
        if mode == "none":
            assert request.text.encode() not in got and EMAIL.encode() not in got


def test_an_entry_answers_like_the_model_it_holds() -> None:
    cached, text = _stored("redact")
    entry = CachedEntry.parse(cached.encode())
    assert entry is not None
    assert entry.model == cached
    assert (entry.action, entry.profile, entry.category) == (
        cached.action,
        cached.profile,
        cached.category,
    )
    assert entry.evidence == (cached.evidence.model_dump(mode="json") if cached.evidence else None)
    for candidate in (text, text + " ", "something else"):
        assert entry.serves(candidate) == cached.serves(candidate)


def test_what_is_not_a_cached_verdict_is_a_miss() -> None:
    assert CachedEntry.parse(b"not json") is None
    assert CachedEntry.parse(b"[1, 2]") is None
    assert CachedEntry.parse(b'{"schema_version": 1, "action": "allow"}') is None
    cached, _ = _stored("refuse")
    doc = orjson.loads(cached.encode())
    doc["schema_version"] = 99  # another version: the model decides, and here it fails
    doc["categories"][0]["score"] = 7.5
    assert CachedEntry.parse(orjson.dumps(doc)) is None


def test_a_receipt_missing_what_the_render_reads_goes_through_the_model() -> None:
    cached, _ = _stored("refuse")
    doc = orjson.loads(cached.encode())
    del doc["receipt"]["reason"]  # not what encode writes: validated, and refused
    assert CachedEntry.parse(orjson.dumps(doc)) is None


def test_an_entry_of_another_shape_goes_through_the_model() -> None:
    cached, _ = _stored("refuse")
    doc = orjson.loads(cached.encode())
    doc["intent_applied"] = 0  # not the shape encode writes: validated, coerced
    doc["receipt"]["note"] = "from a newer writer"  # unknown fields are ignored
    entry = CachedEntry.parse(orjson.dumps(doc))
    assert entry is not None and entry.doc["intent_applied"] is False
    assert "note" not in entry.doc["receipt"] and entry.model == cached


def test_now_must_be_timezone_aware() -> None:
    cached, text = _stored("allow")
    entry = CachedEntry.of(cached)
    with pytest.raises(ValueError, match="timezone-aware"):
        render_cached(
            entry,
            make_request(text=text),
            now=datetime(2026, 1, 1),
            sign_appeal=make_appeal_issuer(),
            timings_ms={},
        )
    assert render_cached(
        entry,
        make_request(text=text),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        sign_appeal=make_appeal_issuer(),
        timings_ms={},
    ).doc["cache_hit"]

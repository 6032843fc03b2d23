"""Decoding wire messages: every failure is poison with a clear, text-free reason."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidEncoding, InvalidJSON, OversizeText, PoisonMessage, SchemaViolation
from shared.schemas import MAX_TEXT_BYTES, ModerationRequest, decode, encode
from tests.support.factories import make_request


def _raw(**overrides: object) -> bytes:
    data = json.loads(encode(make_request()))
    data.update(overrides)
    return json.dumps(data).encode()


def test_a_valid_request_round_trips_and_unknown_fields_are_tolerated() -> None:
    request = decode(_raw(future_field={"x": 1}), ModerationRequest)
    assert request == make_request()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (None, InvalidJSON),
        (b"{", InvalidJSON),
        (b"\xff\xfe", InvalidEncoding),
        (b"[]", SchemaViolation),
        (b'{"request_id": "r"}', SchemaViolation),
    ],
)
def test_malformed_input_raises_the_specific_poison_error(
    raw: bytes | None, error: type[PoisonMessage]
) -> None:
    with pytest.raises(error):
        decode(raw, ModerationRequest)


def test_the_text_limit_counts_utf8_bytes_at_the_boundary() -> None:
    assert decode(_raw(text="a" * MAX_TEXT_BYTES), ModerationRequest)
    with pytest.raises(OversizeText, match=f"limit is {MAX_TEXT_BYTES} bytes"):
        decode(_raw(text="a" * (MAX_TEXT_BYTES + 1)), ModerationRequest)
    with pytest.raises(OversizeText):
        decode(_raw(text="é" * (MAX_TEXT_BYTES // 2 + 1)), ModerationRequest)


def test_schema_errors_name_the_field_but_never_echo_the_input() -> None:
    secret = "my-secret-words"
    with pytest.raises(SchemaViolation) as info:
        decode(_raw(request_id=secret * 20, role=secret), ModerationRequest)
    message = str(info.value)
    assert "request_id" in message and "role" in message
    assert secret not in message


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(SchemaViolation, match="submitted_at"):
        decode(_raw(submitted_at="2025-01-01T00:00:00"), ModerationRequest)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_either_decode_or_raise_poison(raw: bytes) -> None:
    with contextlib.suppress(PoisonMessage):
        decode(raw, ModerationRequest)

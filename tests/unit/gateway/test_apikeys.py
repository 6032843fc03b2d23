"""API key format: high entropy, a visible prefix, hashed for storage."""

from __future__ import annotations

import hashlib

from shared.apikeys import generate_key, hash_key, parse_key, valid_rate_limit


def test_keys_have_a_visible_id_and_a_random_secret() -> None:
    key_id, key = generate_key()
    assert key.startswith(f"cpk_{key_id}_") and len(key_id) == 12
    assert parse_key(key) == key_id
    assert len({generate_key()[1] for _ in range(100)}) == 100
    assert len(key.removeprefix(f"cpk_{key_id}_")) == 43  # 32 random bytes, base64url


def test_only_well_formed_keys_parse() -> None:
    _, key = generate_key()
    for bad in ("", "cpk_", key[:-1], key + "x", key.replace("cpk_", "sk_"), "Bearer " + key):
        assert parse_key(bad) is None, bad


def test_the_stored_form_is_a_sha256_of_the_whole_key() -> None:
    _, key = generate_key()
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert key not in hash_key(key)


def test_rate_limits_are_read_in_limits_notation() -> None:
    assert valid_rate_limit("100/minute") and valid_rate_limit("5 per second")
    assert not valid_rate_limit("lots") and not valid_rate_limit("")

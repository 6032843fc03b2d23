"""Appeal keys: the signing key plus retired keys for verification (rotation)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.core.appeal import AppealClaims, sign, verify
from shared.errors import ConfigurationError
from shared.secrets import appeal_key, appeal_verify_keys
from shared.settings import ResponseSettings, Settings, StackSettings
from tests.support.factories import NOW


def _settings(tmp_path: Path, **response: object) -> Settings:
    return Settings(stack=StackSettings(state_dir=tmp_path), response=ResponseSettings(**response))


def test_a_token_signed_before_a_rotation_still_verifies(tmp_path: Path) -> None:
    old = _settings(tmp_path, appeal_secret=SecretStr("o" * 32), appeal_key_id="k1")
    kid, key = appeal_key(old)
    claims = AppealClaims("r-1", "acme", NOW, NOW + timedelta(days=1))
    token = sign(claims, key=key, kid=kid)
    rotated = _settings(
        tmp_path,
        appeal_secret=SecretStr("n" * 32),
        appeal_key_id="k2",
        appeal_previous_secrets={"k1": SecretStr("o" * 32)},
    )
    keys = appeal_verify_keys(rotated)
    assert set(keys) == {"k1", "k2"} and appeal_key(rotated)[0] == "k2"  # signs with the new
    assert verify(token, keys=keys, now=NOW).request_id == "r-1"


def test_reusing_a_key_id_for_another_secret_is_refused(tmp_path: Path) -> None:
    clash = _settings(
        tmp_path,
        appeal_secret=SecretStr("n" * 32),
        appeal_key_id="k1",
        appeal_previous_secrets={"k1": SecretStr("o" * 32)},
    )
    with pytest.raises(ConfigurationError, match="new id"):
        appeal_verify_keys(clash)


def test_without_a_secret_the_dev_key_file_is_created_once(tmp_path: Path) -> None:
    first = appeal_key(_settings(tmp_path))
    assert first == appeal_key(_settings(tmp_path))
    assert (tmp_path / "appeal.key").stat().st_mode & 0o777 == 0o600

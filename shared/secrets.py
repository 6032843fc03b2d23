"""Secrets from settings; for local development only, a generated key file in the state dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from shared.errors import ConfigurationError
from shared.settings import Settings

__all__ = ["appeal_key", "appeal_verify_keys", "audit_hash_key"]


def appeal_key(settings: Settings) -> tuple[str, bytes]:
    """The (key id, HMAC key) appeal tokens are signed with.

    Production sets ``CLEARPATH_RESPONSE__APPEAL_SECRET``. Without it, a random key is
    created once under the state directory (mode 0600) so a local stack's workers and
    CLI agree; it never lives in the repository.
    """
    response = settings.response
    if response.appeal_secret is not None:
        return response.appeal_key_id, response.appeal_secret.get_secret_value().encode()
    path = settings.stack.state_dir / "appeal.key"
    return response.appeal_key_id, _read_or_create(path)


def appeal_verify_keys(settings: Settings) -> dict[str, bytes]:
    """Every key an appeal token may be verified with: the signing key and the retired ones
    (``CLEARPATH_RESPONSE__APPEAL_PREVIOUS_SECRETS``), so rotating the key does not make
    appeals of still-valid tokens fail as ``unknown_key``."""
    kid, key = appeal_key(settings)
    keys = {
        old_kid: secret.get_secret_value().encode()
        for old_kid, secret in settings.response.appeal_previous_secrets.items()
    }
    if kid in keys and keys[kid] != key:
        raise ConfigurationError(
            f"appeal key id {kid!r} is both the signing key and a retired key with another "
            "secret: give the new key a new id"
        )
    keys[kid] = key
    return keys


def audit_hash_key(settings: Settings) -> tuple[str, bytes]:
    """The (key id, HMAC key) of the audit events' ``request_hash``.

    Production sets ``CLEARPATH_AUDIT__HASH_SECRET``; without it, a random key under the
    state directory, as for :func:`appeal_key`. Every producer of one deployment must share
    it, or equal texts would not hash equal across workers.
    """
    audit = settings.audit
    if audit.hash_secret is not None:
        return audit.hash_key_id, audit.hash_secret.get_secret_value().encode()
    return audit.hash_key_id, _read_or_create(settings.stack.state_dir / "audit-hash.key")


def _read_or_create(path: Path) -> bytes:
    """Read the key, or create it atomically (concurrent starters agree on one key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_bytes(32).hex())
        try:
            os.link(tmp, path)  # atomic; fails if another process won the race
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return bytes.fromhex(path.read_text().strip())

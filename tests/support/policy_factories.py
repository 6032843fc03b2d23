"""Helpers for the policy layer's tests: the default policy, requests, detections, YAML edits."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

from shared.core.policy_model import Policy
from shared.policy.loader import DEFAULT_POLICY_PATH, POLICY_FILE, load_policy
from shared.schemas import Detection, Intent, LexicalHit, ModerationRequest, PiiSpan, Purpose

__all__ = [
    "SUBMITTED_AT",
    "default_data",
    "default_policy",
    "detection",
    "edited_policy",
    "hit",
    "intent",
    "pii",
    "request",
    "write_policy",
]

SUBMITTED_AT: Final = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@cache
def default_policy() -> Policy:
    """The packaged default policy (loaded once per test session)."""
    return load_policy(None)


def default_data() -> dict[str, Any]:
    """A fresh, mutable copy of the default policy.yaml (without tenant files)."""
    return copy.deepcopy(_default_data())


@cache
def _default_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEFAULT_POLICY_PATH / POLICY_FILE).read_text("utf-8"))
    return data


def edited_policy(edit: Callable[[dict[str, Any]], None]) -> Policy:
    """The default policy with ``edit`` applied to its data (validates like the loader)."""
    data = default_data()
    edit(data)
    return Policy.model_validate(data)


def write_policy(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as YAML to ``path`` (parents created) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return path


def intent(purpose: Purpose, *, verified: bool = False) -> Intent:
    return Intent(purpose=purpose, verified=verified)


def request(
    *, profile: str = "public_assistant", tenant_id: str = "t-1", purpose: Intent | None = None
) -> ModerationRequest:
    return ModerationRequest(
        request_id="r-1",
        tenant_id=tenant_id,
        text="some text",
        profile=profile,
        intent=purpose,
        submitted_at=SUBMITTED_AT,
    )


def hit(entry_id: str, *, list_name: str = "blocklist", category: str = "blocklist") -> LexicalHit:
    return LexicalHit.model_validate(
        {"list": list_name, "entry_id": entry_id, "category": category, "start": 0, "end": 4}
    )


def pii(kind: str = "email") -> PiiSpan:
    return PiiSpan(kind=kind, start=0, end=5)


def detection(
    scores: Mapping[str, float] | None = None,
    *,
    hits: tuple[LexicalHit, ...] = (),
    spans: tuple[PiiSpan, ...] = (),
) -> Detection:
    return Detection(scores=dict(scores or {}), hits=hits, pii=spans, model_version="fake@1")

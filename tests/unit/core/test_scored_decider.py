"""`clearpath classify` decides actions through the real policy, not a parallel rule."""

from __future__ import annotations

from shared.pipeline import scored_decider
from shared.policy.loader import load_policy


def test_actions_come_from_the_policy_profiles_pii_and_intent() -> None:
    decide = scored_decider(load_policy(None))
    low = {"violence": 0.05, "unsafe": 0.1}
    assert decide("How do I kill a Python process?", low, None, None) == "allow"
    assert decide("My card is 4111 1111 1111 1111", low, None, None) == "redact"
    assert decide("My card is 4111 1111 1111 1111", low, "internal_tool", None) == "allow"
    assert decide("text", {"self_harm": 0.9, "unsafe": 0.9}, None, None) == "refer"
    assert decide("text", {"violence": 0.95, "unsafe": 0.95}, None, None) == "refuse"
    assert decide("text", {"sexual_minors": 0.9}, "internal_tool", "fiction") == "escalate"

"""Wire contracts (v1): frozen pydantic models for every message on every topic.

Readers tolerate unknown fields (``extra="ignore"``) so producers can add fields
without breaking consumers; every message carries ``schema_version``. JSON on the
wire, UTF-8. The request text is limited to :data:`MAX_TEXT_BYTES` bytes of UTF-8;
a longer text is poison input and goes to the dead-letter topic as ``oversize_text``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidEncoding, InvalidJSON, OversizeText, SchemaViolation

__all__ = [
    "ACTIONS",
    "ACTION_RANK",
    "MAX_TEXT_BYTES",
    "SCHEMA_VERSION",
    "Action",
    "AppealInfo",
    "CategoryResult",
    "DeadLetter",
    "Decision",
    "DecisionMessage",
    "Detection",
    "DetectionMessage",
    "Intent",
    "LexicalHit",
    "ModerationRequest",
    "PiiSpan",
    "Purpose",
    "Receipt",
    "RuleFired",
    "Verdict",
    "VerdictCategory",
    "decode",
    "encode",
    "message_key",
    "most_restrictive",
]

SCHEMA_VERSION: Final = 1
#: Documented limit on ``ModerationRequest.text``: 32 KiB of UTF-8.
MAX_TEXT_BYTES: Final = 32 * 1024

Action = Literal["allow", "allow_with_guidance", "refer", "redact", "refuse", "escalate"]
#: Actions from least to most restrictive (PRODUCT.md).
ACTIONS: Final[tuple[Action, ...]] = (
    "allow",
    "allow_with_guidance",
    "refer",
    "redact",
    "refuse",
    "escalate",
)
ACTION_RANK: Final[Mapping[str, int]] = {a: i for i, a in enumerate(ACTIONS)}

Role = Literal["user", "assistant"]
Purpose = Literal[
    "education", "research", "fiction", "professional", "security_research", "journalism", "other"
]
Identifier = Annotated[str, Field(min_length=1, max_length=128)]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


def most_restrictive(*actions: Action) -> Action:
    """The most restrictive of ``actions`` (``allow`` when none are given)."""
    return max(actions, key=ACTION_RANK.__getitem__, default="allow")


class WireModel(BaseModel):
    """Base of every wire message: immutable, tolerant of fields it does not know."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Intent(WireModel):
    """A purpose the platform declares for the request; may relax relaxable categories."""

    purpose: Purpose = Field(description="Declared purpose of the request.")
    statement: str | None = Field(
        default=None, max_length=2000, description="Free-text context from the user or platform."
    )
    verified: bool = Field(
        default=False, description="True when the platform has verified the purpose (relaxes more)."
    )


class ModerationRequest(WireModel):
    """A message to moderate, produced by a platform to ``clearpath.requests.v1``."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="Wire schema version.")
    request_id: Identifier = Field(description="Platform-unique id; one verdict per request_id.")
    tenant_id: Identifier = Field(description="The platform tenant the message belongs to.")
    text: str = Field(description=f"The text, UTF-8, at most {MAX_TEXT_BYTES} bytes.")
    role: Role = Field(default="user", description="Who wrote the text.")
    profile: Identifier = Field(
        default="public_assistant", description="Deployment profile whose thresholds apply."
    )
    intent: Intent | None = Field(default=None, description="Declared intent, if any.")
    conversation_id: Identifier | None = Field(
        default=None, description="Conversation the message belongs to; keeps its order."
    )
    locale: str | None = Field(default=None, max_length=35, description="BCP 47 locale.")
    submitted_at: AwareDatetime = Field(description="When the platform submitted the request.")

    @property
    def key(self) -> str:
        """Partition key: the conversation when present, else the request."""
        return self.conversation_id or self.request_id


class PiiSpan(WireModel):
    """A validated piece of personal data found in the text (character offsets)."""

    kind: str = Field(description="email, phone, payment_card, iban, us_ssn, ...")
    start: int = Field(ge=0, description="Start offset (characters) in the original text.")
    end: int = Field(ge=0, description="End offset (exclusive).")


class LexicalHit(WireModel):
    """A tenant blocklist or allowlist entry that matched the normalised text."""

    list: Literal["blocklist", "allowlist"]
    entry_id: str = Field(description="Stable id of the list entry (never the matched text).")
    category: str = Field(description="Taxonomy category the entry belongs to.")
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Detection(WireModel):
    """What the detection layer found: calibrated scores, lexical hits and PII spans."""

    scores: dict[str, Score] = Field(
        default_factory=dict, description="Calibrated probability per taxonomy category."
    )
    hits: tuple[LexicalHit, ...] = Field(default=(), description="Blocklist/allowlist matches.")
    pii: tuple[PiiSpan, ...] = Field(default=(), description="Validated PII spans.")
    model_version: str = Field(description="Detectors (and model variant/provider) that served it.")


class DetectionMessage(WireModel):
    """On ``clearpath.detections.v1``: the request with its detection."""

    schema_version: int = SCHEMA_VERSION
    request: ModerationRequest
    detection: Detection
    timings_ms: dict[str, float] = Field(default_factory=dict)


class CategoryResult(WireModel):
    """One category as the policy judged it."""

    id: str
    score: Score
    threshold: Score = Field(description="Lowest score at which this category triggers.")
    triggered: bool
    action: Action = Field(default="allow", description="Action this category asked for.")


class RuleFired(WireModel):
    """A policy rule that fired, with the clause it cites."""

    rule: str = Field(
        description="Stable rule id, e.g. 'profile.weapons_cbrn', 'floor.sexual_minors'."
    )
    category: str
    action: Action
    policy_ref: str = Field(
        description="Clause reference, e.g. 'public_assistant@3#weapons_cbrn.1'."
    )


class Decision(WireModel):
    """The policy layer's decision: a pure function of (detection, request context, policy)."""

    action: Action
    profile: str
    categories: tuple[CategoryResult, ...] = ()
    rules_fired: tuple[RuleFired, ...] = ()
    primary_category: str | None = Field(
        default=None, description="Category behind the action (None for allow)."
    )
    policy_ref: str | None = Field(default=None, description="Clause cited for the action.")
    policy_version: str = Field(description="Policy (and tenant override) version applied.")
    intent_applied: bool = Field(
        default=False, description="True when declared intent changed the outcome."
    )


class DecisionMessage(WireModel):
    """On ``clearpath.decisions.v1``: the request, its detection and the decision."""

    schema_version: int = SCHEMA_VERSION
    request: ModerationRequest
    detection: Detection
    decision: Decision
    timings_ms: dict[str, float] = Field(default_factory=dict)


class AppealInfo(WireModel):
    """How to appeal: an opaque signed token and where to send it."""

    token: str = Field(description="HMAC-signed token binding request, tenant and expiry.")
    expires_at: AwareDatetime
    instructions: str = Field(description="One line telling the user how to appeal.")


class Receipt(WireModel):
    """The refusal receipt: never a dead end."""

    reason: str = Field(description="One plain line saying why.")
    policy_ref: str = Field(description="Clause in the end-user policy summary.")
    alternatives: tuple[str, ...] = Field(min_length=1, max_length=3)
    rewrite: str | None = Field(
        default=None, description="Editable safer request that detection and policy allow."
    )
    appeal: AppealInfo
    locale: str = "en"


class VerdictCategory(WireModel):
    id: str
    score: Score
    threshold: Score
    triggered: bool


class Verdict(WireModel):
    """On ``clearpath.verdicts.v1``: the answer to one request."""

    schema_version: int = SCHEMA_VERSION
    request_id: Identifier
    tenant_id: Identifier
    conversation_id: Identifier | None = None
    profile: str
    action: Action
    categories: tuple[VerdictCategory, ...] = ()
    receipt: Receipt | None = Field(default=None, description="For every action but allow.")
    redacted_text: str | None = Field(default=None, description="For redact: PII masked.")
    policy_version: str
    model_version: str
    intent_applied: bool = False
    cache_hit: bool = False
    timings_ms: dict[str, float] = Field(default_factory=dict)
    decided_at: AwareDatetime


class DeadLetter(WireModel):
    """On ``clearpath.deadletter.v1``: input that could not be processed, and why."""

    schema_version: int = SCHEMA_VERSION
    original_b64: str = Field(description="The original message value, base64.")
    key_b64: str | None = Field(default=None, description="The original key, base64.")
    source_topic: str
    partition: int
    offset: int
    stage: str = Field(description="detection, policy or response.")
    error_type: str = Field(description="Stable error name, e.g. invalid_json, oversize_text.")
    message: str = Field(description="Human-readable reason (never the raw text).")
    failed_at: datetime

    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)


M = TypeVar("M", bound=WireModel)


def encode(message: WireModel) -> bytes:
    """Serialise a wire message to compact UTF-8 JSON."""
    return message.model_dump_json(exclude_none=True).encode()


def decode(raw: bytes | None, model: type[M], *, max_text_bytes: int = MAX_TEXT_BYTES) -> M:
    """Parse ``raw`` as ``model``; raise a :class:`PoisonMessage` subclass with a clear reason.

    The size limit applies to any ``text`` field at the top level or inside ``request``.
    """
    if raw is None:
        raise InvalidJSON("message has no value (tombstone)")
    try:
        document = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEncoding(f"message is not valid UTF-8 (byte {exc.start})") from None
    try:
        data: Any = json.loads(document)
    except json.JSONDecodeError as exc:
        raise InvalidJSON(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise SchemaViolation(f"expected a JSON object, got {type(data).__name__}")
    _check_text_size(data, max_text_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SchemaViolation(_describe(exc)) from None


def _check_text_size(data: dict[str, Any], limit: int) -> None:
    for holder in (data, data.get("request")):
        if isinstance(holder, dict) and isinstance(holder.get("text"), str):
            size = len(holder["text"].encode("utf-8", "surrogatepass"))
            if size > limit:
                raise OversizeText(f"text is {size} bytes; the limit is {limit} bytes")


def _describe(exc: ValidationError) -> str:
    """A short, text-free description of validation errors (field path and problem only)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "schema violation: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def message_key(request: ModerationRequest) -> bytes:
    """Kafka key for every message derived from ``request`` (keeps a conversation ordered)."""
    return request.key.encode()

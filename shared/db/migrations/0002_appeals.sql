-- Appeals and their review queue; API keys of the HTTP gateway (stored hashed, never the key).

-- One row per appeal. The automatic outcome is final for 'overturned' and 'upheld'; a
-- 'queued' appeal waits for a reviewer (review_outcome NULL) and is decided once.
-- The request text is kept only while the appeal waits for review (the reviewer reads it)
-- and erased when it is decided; the audit trail keeps no text by default.
CREATE TABLE appeals (
    appeal_id            text PRIMARY KEY,
    tenant_id            text NOT NULL,
    request_id           text NOT NULL,
    token_id             text NOT NULL,
    profile              text NOT NULL,
    category             text,
    policy_ref           text,
    purpose              text,
    statement            text,
    original_action      text NOT NULL,
    reconsidered_action  text,
    outcome              text NOT NULL CHECK (outcome IN ('overturned', 'upheld', 'queued')),
    reason               text NOT NULL,
    request_text         text,
    created_at           timestamptz NOT NULL,
    review_outcome       text CHECK (review_outcome IN ('overturned', 'upheld')),
    review_note          text,
    reviewer             text,
    reviewed_at          timestamptz,
    -- Outbox: set once the outcome event (and its audit event) reached Kafka.
    outcome_published_at timestamptz,
    review_published_at  timestamptz,
    CHECK (review_outcome IS NULL OR outcome = 'queued'),
    CHECK ((review_outcome IS NULL) = (reviewed_at IS NULL))
);

-- The review queue of a tenant, oldest first.
CREATE INDEX appeals_queue ON appeals (tenant_id, created_at, appeal_id)
    WHERE outcome = 'queued' AND review_outcome IS NULL;
CREATE INDEX appeals_by_request ON appeals (tenant_id, request_id);
-- Outcomes not yet on Kafka (the gateway's outbox relay).
CREATE INDEX appeals_unpublished ON appeals (created_at)
    WHERE outcome_published_at IS NULL
       OR (review_outcome IS NOT NULL AND review_published_at IS NULL);

-- API keys: 'cpk_<key_id>_<secret>'; only the SHA-256 of the whole key is stored.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    tenant_id   text NOT NULL,
    role        text NOT NULL CHECK (role IN ('client', 'reviewer', 'admin')),
    key_sha256  text NOT NULL,
    label       text,
    rate_limit  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id);

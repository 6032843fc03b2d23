-- The tamper-evident audit trail (shared/audit/chain.py describes the chain).
--
-- One hash chain per (topic, Kafka partition) of the audit topic; only the audit sink
-- writes here. The topic is part of every key so that pipelines on namespaced topics
-- (tests, CLEARPATH_WORKER__TOPIC_SUFFIX) never fork each other's chains in one database.

-- The head of each chain: the last row appended and the oldest row retained.
CREATE TABLE audit_chain_heads (
    topic            text        NOT NULL,
    kafka_partition  integer     NOT NULL CHECK (kafka_partition >= 0),
    -- last seq appended (0: none yet) and its hash (32 zero bytes: none yet)
    seq              bigint      NOT NULL CHECK (seq >= 0),
    hash             bytea       NOT NULL CHECK (octet_length(hash) = 32),
    -- highest Kafka offset consumed into this chain (-1: none); redeliveries at or below
    -- it are skipped before chaining
    last_offset      bigint      NOT NULL CHECK (last_offset >= -1),
    -- retention: the oldest retained seq and the hash it links to (GENESIS at first)
    anchor_seq       bigint      NOT NULL CHECK (anchor_seq >= 1),
    anchor_prev_hash bytea       NOT NULL CHECK (octet_length(anchor_prev_hash) = 32),
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);

CREATE TABLE audit_events (
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL CHECK (kafka_partition >= 0),
    seq             bigint      NOT NULL CHECK (seq >= 1),
    kafka_offset    bigint      NOT NULL CHECK (kafka_offset >= 0),
    event_id        text        NOT NULL,
    kind            text        NOT NULL,
    tenant_id       text        NOT NULL,
    request_id      text        NOT NULL,
    action          text,
    profile         text,
    decided_at      timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    prev_hash       bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32),
    -- the exact canonical JSON text the hash covers; event is the same document as jsonb
    canonical       text        NOT NULL,
    event           jsonb       NOT NULL,
    PRIMARY KEY (topic, kafka_partition, seq),
    UNIQUE (topic, kafka_partition, kafka_offset)
);

CREATE UNIQUE INDEX audit_events_event_id ON audit_events (event_id);
CREATE INDEX audit_events_tenant_request ON audit_events (tenant_id, request_id);
CREATE INDEX audit_events_recorded ON audit_events (topic, kafka_partition, recorded_at);

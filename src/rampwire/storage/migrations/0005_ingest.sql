-- 0005: ingest: sources (credentials encrypted), the raw inbound log, stuck-order flags.

CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    credentials TEXT NOT NULL,
    options {{JSON}} NOT NULL,
    disabled_at BIGINT,
    deleted_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE inbound (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES sources (id),
    provider TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    processed_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    provider_order_id TEXT,
    order_id TEXT,
    provider_event TEXT,
    event_ids {{JSON}} NOT NULL,
    headers {{JSON}} NOT NULL,
    body TEXT NOT NULL,
    peer_ip TEXT,
    attempts INTEGER NOT NULL
);
CREATE UNIQUE INDEX inbound_dedupe ON inbound (source_id, dedupe_key);
CREATE INDEX inbound_source ON inbound (source_id, id);
CREATE INDEX inbound_order ON inbound (order_id);

CREATE TABLE order_stuck (
    order_id TEXT NOT NULL REFERENCES orders (id),
    status TEXT NOT NULL,
    status_at BIGINT NOT NULL,
    flagged_at BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (order_id, status, status_at)
);
CREATE INDEX orders_status_at ON orders (status, status_at);
CREATE INDEX inbound_unapplied ON inbound (provider, provider_order_id)
    WHERE outcome = 'unapplied';

-- The current schema, applied as one piece to an empty database. Every change to it comes with
-- a new file in migrations/, and a test checks that the migrations build exactly this schema.
-- {{JSON}} is jsonb on PostgreSQL and TEXT on SQLite; {{JSON_AS_WRITTEN}} is json on PostgreSQL
-- (checked, kept byte for byte: the columns the order and delivery paths write on every call,
-- migration 0017) and TEXT on SQLite. Times are microseconds since the epoch.
-- The tables the delivery path writes (timeline, events, deliveries, attempts) have no foreign
-- key: they cost more than they guarded (migration 0016).

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    provider TEXT,
    provider_order_id TEXT,
    side TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    status_at BIGINT NOT NULL,
    field_times {{JSON_AS_WRITTEN}} NOT NULL,
    body {{JSON_AS_WRITTEN}} NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    partner_id TEXT
);
CREATE UNIQUE INDEX orders_provider_ref ON orders (provider, provider_order_id)
    WHERE provider IS NOT NULL;
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_created ON orders (created_at, id);

CREATE TABLE timeline (
    order_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    body {{JSON_AS_WRITTEN}} NOT NULL,
    PRIMARY KEY (order_id, seq)
);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    order_id TEXT,
    sequence BIGINT,
    created_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    trace_context TEXT
);
CREATE INDEX events_order ON events (order_id, sequence);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    partner_id TEXT
);

CREATE TABLE idempotency_keys (
    api_key_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    response {{JSON_AS_WRITTEN}} NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, idempotency_key)
);
CREATE TABLE authorization_config (
    id TEXT PRIMARY KEY,
    config {{JSON}} NOT NULL,
    secret TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE authorization_decisions (
    id TEXT PRIMARY KEY,
    decided_at BIGINT NOT NULL,
    operation TEXT NOT NULL,
    subject TEXT,
    order_id TEXT,
    allowed INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    body {{JSON}} NOT NULL,
    partner_id TEXT
);
CREATE INDEX authorization_decisions_order ON authorization_decisions (order_id);
CREATE INDEX authorization_decisions_time ON authorization_decisions (decided_at);
CREATE TABLE endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    description TEXT,
    event_types {{JSON}} NOT NULL,
    dialect TEXT NOT NULL,
    headers {{JSON}} NOT NULL,
    secrets {{JSON}} NOT NULL,
    rate_limit INTEGER,
    max_in_flight INTEGER NOT NULL,
    ordering TEXT NOT NULL,
    retry_policy {{JSON}},
    disabled_at BIGINT,
    disabled_reason TEXT,
    deleted_at BIGINT,
    last_success_at BIGINT,
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    partner_id TEXT,
    partners {{JSON}},
    signatures TEXT,
    traceparent INTEGER
);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    order_id TEXT,
    fifo_key TEXT,
    fifo_seq BIGINT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT,
    lease_token TEXT,
    last_status_code INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    superseded_by TEXT,
    partner_id TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_fifo ON deliveries (fifo_key, fifo_seq) WHERE fifo_key IS NOT NULL;

CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    request_url TEXT NOT NULL,
    request_headers {{JSON_AS_WRITTEN}} NOT NULL,
    request_body TEXT,
    response_status INTEGER,
    response_headers {{JSON_AS_WRITTEN}},
    response_body TEXT,
    error_class TEXT,
    error TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, attempt);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (algorithm) WHERE retired_at IS NULL;

CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    credentials TEXT NOT NULL,
    options {{JSON}} NOT NULL,
    disabled_at BIGINT,
    deleted_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    partner_id TEXT
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
    event_ids {{JSON_AS_WRITTEN}} NOT NULL,
    headers {{JSON_AS_WRITTEN}} NOT NULL,
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
-- The log's outcome filter, for the requests not applied (an operator's search for what went
-- wrong); an applied request, most of them, writes no entry.
CREATE INDEX inbound_outcome ON inbound (outcome, id) WHERE outcome <> 'applied';

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    metadata {{JSON}} NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
-- The suspended partners, whose deliveries the worker's claim leaves waiting: read once a claim.
CREATE INDEX partners_suspended ON partners (id) WHERE status = 'suspended';
CREATE INDEX orders_partner ON orders (partner_id, id) WHERE partner_id IS NOT NULL;
CREATE INDEX endpoints_partner ON endpoints (partner_id) WHERE deleted_at IS NULL;
CREATE INDEX deliveries_partner ON deliveries (partner_id, id) WHERE partner_id IS NOT NULL;

CREATE TABLE listen_sessions (
    id TEXT PRIMARY KEY,
    partner_id TEXT,
    event_types {{JSON}} NOT NULL,
    dialect TEXT NOT NULL,
    secret TEXT,
    after_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL
);
CREATE INDEX listen_sessions_read ON listen_sessions (read_at);

-- PostgreSQL: only the deliveries that failed or were set aside, so that the delivery path
-- (pending, then succeeded) writes no entry in it (docs/benchmarks.md, "PostgreSQL's CPU per
-- delivery"); SQLite proves no partial index from `status IN (...)` and keeps every row.
CREATE INDEX deliveries_set_aside ON deliveries (status, id)
    {{postgresql: WHERE status NOT IN ('pending', 'succeeded')}};

CREATE TABLE portal_links (
    id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_links_partner ON portal_links (partner_id, id);

CREATE VIEW orders_row AS SELECT id, provider, provider_order_id, side, status, version,
    created_at, updated_at, status_at, field_times, body, seq, partner_id FROM orders;
CREATE VIEW timeline_row AS SELECT order_id, seq, recorded_at, occurred_at, kind, body
    FROM timeline;
CREATE VIEW events_row AS SELECT id, type, order_id, sequence, created_at, payload, trace_context
    FROM events;
CREATE VIEW inbound_row AS SELECT id, source_id, provider, dedupe_key, received_at, processed_at,
    outcome, detail, provider_order_id, order_id, provider_event, event_ids, headers, body,
    peer_ip, attempts FROM inbound;
CREATE VIEW deliveries_row AS SELECT id, endpoint_id, event_id, event_type, order_id, fifo_key,
    fifo_seq, status, attempts, next_attempt_at, created_at, updated_at, partner_id
    FROM deliveries;

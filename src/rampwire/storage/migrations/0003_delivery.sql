-- 0003: endpoints, one delivery per (event, endpoint), and every attempt.

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
    updated_at BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES endpoints (id),
    event_id TEXT NOT NULL REFERENCES events (id),
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
    updated_at BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_fifo ON deliveries (fifo_key, fifo_seq) WHERE fifo_key IS NOT NULL;

CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries (id),
    attempt INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    request_url TEXT NOT NULL,
    request_headers {{JSON}} NOT NULL,
    request_body TEXT,
    response_status INTEGER,
    response_headers {{JSON}},
    response_body TEXT,
    error_class TEXT,
    error TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, attempt);

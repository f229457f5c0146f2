-- 0016: the five foreign keys of the delivery path go: deliveries.endpoint_id,
-- deliveries.event_id, attempts.delivery_id, timeline.order_id and events.order_id. Each checked
-- every row written with a trigger and a locking lookup of its parent, 2-4 % of PostgreSQL's
-- instructions per delivery apiece (docs/benchmarks.md, "The foreign keys on the delivery path,
-- one by one"), and guarded only against writes from outside rampwire: it deletes none of those
-- parents (endpoints are deleted softly, orders, events and deliveries never), and writes each
-- child in the transaction that wrote or locked its parent. Readers take a missing parent as
-- gone: a delivery whose endpoint's or event's row was deleted by hand is cancelled unsent when
-- claimed, as for a deleted endpoint, and is not replayed.
--
-- PostgreSQL drops the constraints. SQLite cannot drop a constraint: each table is rebuilt as
-- schema.sql has it (copied aside, dropped, created, copied back, its indexes made again),
-- children before parents. Foreign keys are on and cannot be turned off inside the migration's
-- transaction; none is checked on the way, since each child is rebuilt without its key before
-- its parent is dropped.

{{postgresql:
ALTER TABLE deliveries DROP CONSTRAINT deliveries_endpoint_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_delivery_id_fkey;
ALTER TABLE timeline DROP CONSTRAINT timeline_order_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_order_id_fkey;
}}
{{sqlite:
CREATE TEMP TABLE attempts_before AS SELECT id, delivery_id, attempt, started_at, duration_us,
    request_url, request_headers, request_body, response_status, response_headers,
    response_body, error_class, error FROM attempts;
DROP TABLE attempts;
CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL,
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
INSERT INTO attempts (id, delivery_id, attempt, started_at, duration_us, request_url,
    request_headers, request_body, response_status, response_headers, response_body,
    error_class, error) SELECT * FROM attempts_before;
DROP TABLE attempts_before;
CREATE INDEX attempts_delivery ON attempts (delivery_id, attempt);

CREATE TEMP TABLE deliveries_before AS SELECT id, endpoint_id, event_id, event_type, order_id,
    fifo_key, fifo_seq, status, attempts, next_attempt_at, lease_token, last_status_code,
    last_error, created_at, updated_at, superseded_by, partner_id FROM deliveries;
DROP TABLE deliveries;
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
INSERT INTO deliveries (id, endpoint_id, event_id, event_type, order_id, fifo_key, fifo_seq,
    status, attempts, next_attempt_at, lease_token, last_status_code, last_error, created_at,
    updated_at, superseded_by, partner_id) SELECT * FROM deliveries_before;
DROP TABLE deliveries_before;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_fifo ON deliveries (fifo_key, fifo_seq) WHERE fifo_key IS NOT NULL;
CREATE INDEX deliveries_partner ON deliveries (partner_id, id) WHERE partner_id IS NOT NULL;
CREATE INDEX deliveries_set_aside ON deliveries (status, id);

CREATE TEMP TABLE events_before AS SELECT id, type, order_id, sequence, created_at, payload,
    trace_context FROM events;
DROP TABLE events;
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    order_id TEXT,
    sequence BIGINT,
    created_at BIGINT NOT NULL,
    payload TEXT NOT NULL,
    trace_context TEXT
);
INSERT INTO events (id, type, order_id, sequence, created_at, payload, trace_context)
    SELECT * FROM events_before;
DROP TABLE events_before;
CREATE INDEX events_order ON events (order_id, sequence);

CREATE TEMP TABLE timeline_before AS SELECT order_id, seq, recorded_at, occurred_at, kind, body
    FROM timeline;
DROP TABLE timeline;
CREATE TABLE timeline (
    order_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    body {{JSON}} NOT NULL,
    PRIMARY KEY (order_id, seq)
);
INSERT INTO timeline (order_id, seq, recorded_at, occurred_at, kind, body)
    SELECT * FROM timeline_before;
DROP TABLE timeline_before;
}}

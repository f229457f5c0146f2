-- 0017: on PostgreSQL, the JSON columns the order and delivery paths write on every call become
-- `json` from `jsonb`: orders.field_times and orders.body, timeline.body,
-- idempotency_keys.response, attempts.request_headers and attempts.response_headers,
-- inbound.event_ids and inbound.headers. rampwire writes and reads them as text and never
-- queries inside them; `jsonb` parsed every value written into its binary form (`jsonb_recv`)
-- and printed it back on every read, where `json` checks the text and keeps it as written, so
-- a value reads back byte for byte (docs/benchmarks.md, "JSON kept as written"). The columns
-- rampwire reads settings from (endpoints, sources, partners, listen sessions, authorization)
-- stay `jsonb`. Each ALTER rewrites its table under an exclusive lock; the row-type views of
-- 0014 name three of the tables' columns and are made again around them. SQLite keeps TEXT:
-- nothing to do.

{{postgresql:
DROP VIEW orders_row;
DROP VIEW timeline_row;
DROP VIEW inbound_row;
ALTER TABLE orders ALTER COLUMN field_times TYPE json USING field_times::json,
    ALTER COLUMN body TYPE json USING body::json;
ALTER TABLE timeline ALTER COLUMN body TYPE json USING body::json;
ALTER TABLE idempotency_keys ALTER COLUMN response TYPE json USING response::json;
ALTER TABLE attempts ALTER COLUMN request_headers TYPE json USING request_headers::json,
    ALTER COLUMN response_headers TYPE json USING response_headers::json;
ALTER TABLE inbound ALTER COLUMN event_ids TYPE json USING event_ids::json,
    ALTER COLUMN headers TYPE json USING headers::json;
CREATE VIEW orders_row AS SELECT id, provider, provider_order_id, side, status, version,
    created_at, updated_at, status_at, field_times, body, seq, partner_id FROM orders;
CREATE VIEW timeline_row AS SELECT order_id, seq, recorded_at, occurred_at, kind, body
    FROM timeline;
CREATE VIEW inbound_row AS SELECT id, source_id, provider, dedupe_key, received_at, processed_at,
    outcome, detail, provider_order_id, order_id, provider_event, event_ids, headers, body,
    peer_ip, attempts FROM inbound;
}}

-- 0014: the shapes in which rows are written, as views: on PostgreSQL each view's row type is
-- what a row set travels as (`storage.database.Columns.row_type`: one array of rows, which
-- asyncpg encodes with a few checks per row instead of one or two per value). A view, not the
-- table's own row type, so that a column added to a table later does not change what a server
-- of the release before sends. Nothing reads them; on SQLite they are inert.

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

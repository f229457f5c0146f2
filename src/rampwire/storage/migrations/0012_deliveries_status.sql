-- rampwire: outside a transaction
-- 0012: the delivery log filtered by status alone (the dashboard's Deliveries page, status
-- "dead" or "retrying" with no endpoint) was a sequential scan of deliveries: 1.2 s at
-- 3,000,000 rows. This index serves it newest first; its cost on the delivery path is in
-- docs/benchmarks.md (bench/writes.py before and after). On PostgreSQL it is built
-- CONCURRENTLY, outside a transaction, so deliveries go on being written while it builds on a
-- large table; a build that failed half-way leaves an invalid index, dropped before building.

DROP INDEX {{CONCURRENTLY}} IF EXISTS deliveries_status;
CREATE INDEX {{CONCURRENTLY}} deliveries_status ON deliveries (status, id);

-- rampwire: outside a transaction
-- 0015: on PostgreSQL, the status index holds only the deliveries that failed or were set aside
-- (retrying, dead, cancelled, superseded): the filters it serves. A pending or succeeded
-- delivery, the whole of the delivery path, then writes no entry in it: its insert, its claim
-- and its record (neither update is heap-only) each wrote one before. The list's `pending` and
-- `succeeded` filters walk the primary key newest first, where those rows are. Built
-- CONCURRENTLY (writes go on) under a new name before the old index goes, so the status filters
-- always have one; a build that failed half-way is dropped and built again. SQLite keeps every
-- row (it proves no partial index from `status IN (...)`).

DROP INDEX {{CONCURRENTLY}} IF EXISTS deliveries_set_aside;
CREATE INDEX {{CONCURRENTLY}} deliveries_set_aside ON deliveries (status, id)
    {{postgresql: WHERE status NOT IN ('pending', 'succeeded')}};
DROP INDEX {{CONCURRENTLY}} IF EXISTS deliveries_status;

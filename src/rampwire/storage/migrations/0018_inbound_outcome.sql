-- rampwire: outside a transaction
-- 0018: the inbound log's outcome filter (`GET /v1/inbound?outcome=`, the dashboard's inbound
-- page) read the log newest first and kept the rows of that outcome: an operator looking for
-- the few requests that went wrong (unmapped, unapplied, unchanged) read every request ever
-- received. This index holds only the requests not applied, so the ingest of a request that is
-- applied (most of them) writes no entry in it. The listing names its predicate in the same
-- words, which SQLite needs to use a partial index. Built CONCURRENTLY on PostgreSQL (ingest
-- goes on); a build that failed half-way is dropped and built again.

DROP INDEX {{CONCURRENTLY}} IF EXISTS inbound_outcome;
CREATE INDEX {{CONCURRENTLY}} inbound_outcome ON inbound (outcome, id) WHERE outcome <> 'applied';

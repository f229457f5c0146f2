-- 0014: a claimed delivery's lease ends at lease_until, and claiming leaves next_attempt_at as
-- it was. The claim's update (and a lease's renewal) then changes no indexed column, so
-- PostgreSQL writes the new row version on the same page with no entry in any of deliveries'
-- indexes (a heap-only tuple); figures in docs/benchmarks.md. Deliveries in flight keep their
-- lease: its end moves to lease_until. Stop the workers of an earlier version before this
-- one's start claiming: an earlier worker reads a lease from next_attempt_at only.

ALTER TABLE deliveries ADD COLUMN lease_until BIGINT;
UPDATE deliveries SET lease_until = next_attempt_at WHERE lease_token IS NOT NULL;
{{POSTGRESQL}}ALTER TABLE deliveries SET (fillfactor = 75);

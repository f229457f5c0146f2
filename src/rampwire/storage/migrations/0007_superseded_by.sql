-- 0007: a delivery replayed while it still waited is superseded by the replay; this links it to
-- the delivery that took over (NULL for every other delivery).

ALTER TABLE deliveries ADD COLUMN superseded_by TEXT;

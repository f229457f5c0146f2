-- 0006: each order holds the seq of its last timeline entry. A transaction that locks the order
-- reads it from the locked row, which is current even after a lock wait under READ COMMITTED
-- (the timeline, read in the same statement, could be stale).

ALTER TABLE orders ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE orders SET seq = (SELECT COALESCE(MAX(t.seq), 0) FROM timeline t WHERE t.order_id = orders.id);

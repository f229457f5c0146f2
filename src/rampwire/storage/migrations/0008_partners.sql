-- 0008: partners. One rampwire serves many partners; each owns its orders, keys, endpoints and
-- sources. Rows that exist already name no partner: they are the operator's.

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    metadata {{JSON}} NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);

ALTER TABLE api_keys ADD COLUMN partner_id TEXT;
ALTER TABLE orders ADD COLUMN partner_id TEXT;
ALTER TABLE endpoints ADD COLUMN partner_id TEXT;
ALTER TABLE endpoints ADD COLUMN partners {{JSON}};
ALTER TABLE sources ADD COLUMN partner_id TEXT;
ALTER TABLE deliveries ADD COLUMN partner_id TEXT;
ALTER TABLE authorization_decisions ADD COLUMN partner_id TEXT;

CREATE INDEX orders_partner ON orders (partner_id, id) WHERE partner_id IS NOT NULL;
CREATE INDEX endpoints_partner ON endpoints (partner_id) WHERE deleted_at IS NULL;
CREATE INDEX deliveries_partner ON deliveries (partner_id, id) WHERE partner_id IS NOT NULL;

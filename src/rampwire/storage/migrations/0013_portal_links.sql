-- 0013: partner portal links. An operator makes a one-time link for a partner; opening it
-- consumes it (used_at) and opens a portal session scoped to that partner. Only a hash of the
-- link's token is kept, as for API keys.

CREATE TABLE portal_links (
    id TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_links_partner ON portal_links (partner_id, id);

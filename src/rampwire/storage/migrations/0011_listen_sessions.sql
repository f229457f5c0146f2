-- 0011: listen sessions (`rampwire listen`). A session is a cursor into the events table and a
-- signing secret, nothing more: no deliveries are made for it, so a session nobody reads holds
-- nothing back and costs one row until it expires (read_at older than the idle timeout).

CREATE TABLE listen_sessions (
    id TEXT PRIMARY KEY,
    partner_id TEXT,
    event_types {{JSON}} NOT NULL,
    dialect TEXT NOT NULL,
    secret TEXT,
    after_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT NOT NULL
);
CREATE INDEX listen_sessions_read ON listen_sessions (read_at);

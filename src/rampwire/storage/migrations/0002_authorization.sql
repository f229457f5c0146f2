-- 0002: the pre-execution authorization callback's configuration and its decision log.

CREATE TABLE authorization_config (
    id TEXT PRIMARY KEY,
    config {{JSON}} NOT NULL,
    secret TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE authorization_decisions (
    id TEXT PRIMARY KEY,
    decided_at BIGINT NOT NULL,
    operation TEXT NOT NULL,
    subject TEXT,
    order_id TEXT,
    allowed INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    body {{JSON}} NOT NULL
);
CREATE INDEX authorization_decisions_order ON authorization_decisions (order_id);
CREATE INDEX authorization_decisions_time ON authorization_decisions (decided_at);

-- Each user's current workflow context, kept until it expires: "synced" means stored here,
-- so no cache eviction can lose a context before its TTL. The cache holds a copy.
CREATE TABLE workflow_contexts (
    user_id    TEXT   PRIMARY KEY,
    data       TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX workflow_contexts_by_expiry ON workflow_contexts (expires_at);

-- Personal access tokens. Only a SHA-256 hash of each secret is kept: the secret itself is
-- shown once, when the token is made. A revoked token keeps its row (revoked_at set), so it
-- is answered as revoked rather than unknown.
CREATE TABLE access_tokens (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    scopes       TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE INDEX access_tokens_by_user ON access_tokens (user_id, created_at);

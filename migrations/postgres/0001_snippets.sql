-- Snippets, newest first per user, with a GIN-indexed tsvector for full-text search.
-- The 'simple' configuration neither stems nor drops stop words, which suits code and
-- matches SQLite's unicode61 tokenizer. Code is indexed up to 256 KiB: a tsvector cannot
-- exceed 1 MiB.
CREATE TABLE snippets (
    id          TEXT   PRIMARY KEY,
    user_id     TEXT   NOT NULL,
    title       TEXT   NOT NULL,
    code        TEXT   NOT NULL,
    language    TEXT   NOT NULL,
    tags        JSONB  NOT NULL DEFAULT '[]',
    metadata    JSONB  NOT NULL DEFAULT '{}',
    description TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    search      TSVECTOR GENERATED ALWAYS AS (
        to_tsvector('simple', title)
        || to_tsvector('simple', coalesce(description, ''))
        || to_tsvector('simple', left(code, 262144))
        || jsonb_to_tsvector('simple', tags, '["string"]')
    ) STORED
);

CREATE INDEX snippets_by_user_newest ON snippets (user_id, created_at DESC, id DESC);
CREATE INDEX snippets_by_user_language ON snippets (user_id, language, created_at DESC);
-- Without fastupdate every search would also scan the unmerged pending list; inserts pay a
-- little more instead.
CREATE INDEX snippets_search ON snippets USING GIN (search) WITH (fastupdate = off);

-- Events owed to other services, written in the same transaction as the change.
CREATE TABLE outbox (
    id              TEXT    PRIMARY KEY,
    target          TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    request_id      TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    last_error      TEXT,
    dead            BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE NOT dead;

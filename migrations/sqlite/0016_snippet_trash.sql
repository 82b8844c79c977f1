-- The trash: a deleted snippet's row, whole, until it is restored or erased (by hand, or
-- TRASH_RETENTION_DAYS after its deletion). The live table loses the row as before, so every
-- read path (lists, search, the text and tag indexes, counts, embeddings) drops it at once.
CREATE TABLE snippets_trash (
    id          TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    language    TEXT    NOT NULL,
    tags        TEXT    NOT NULL,
    metadata    TEXT    NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    created_by  TEXT,
    deleted_at  INTEGER NOT NULL,
    deleted_by  TEXT
);

CREATE INDEX snippets_trash_by_workspace ON snippets_trash (user_id, deleted_at);
CREATE INDEX snippets_trash_by_age ON snippets_trash (deleted_at);

-- Snippets, with an FTS5 index kept in step by triggers. Newest first is insertion order
-- (`seq`), which every index below carries, so a page never needs a sort. The FTS index also
-- holds each row's owner as one token (hex of user_id), so a user's matches are counted and
-- paged from the index alone, without reading the rows.
CREATE TABLE snippets (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    user_id     TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    language    TEXT    NOT NULL,
    tags        TEXT    NOT NULL DEFAULT '[]',
    metadata    TEXT    NOT NULL DEFAULT '{}',
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    owner       TEXT    GENERATED ALWAYS AS (hex(user_id)) VIRTUAL
);

CREATE INDEX snippets_by_user ON snippets (user_id);
CREATE INDEX snippets_by_user_language ON snippets (user_id, language);

CREATE VIRTUAL TABLE snippets_fts USING fts5 (
    title, description, code, tags, owner,
    content = 'snippets', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER snippets_fts_insert AFTER INSERT ON snippets BEGIN
    INSERT INTO snippets_fts (rowid, title, description, code, tags, owner)
    VALUES (new.seq, new.title, new.description, new.code, new.tags, hex(new.user_id));
END;

CREATE TRIGGER snippets_fts_delete AFTER DELETE ON snippets BEGIN
    INSERT INTO snippets_fts (snippets_fts, rowid, title, description, code, tags, owner)
    VALUES ('delete', old.seq, old.title, old.description, old.code, old.tags, hex(old.user_id));
END;

CREATE TRIGGER snippets_fts_update AFTER UPDATE OF title, description, code, tags ON snippets BEGIN
    INSERT INTO snippets_fts (snippets_fts, rowid, title, description, code, tags, owner)
    VALUES ('delete', old.seq, old.title, old.description, old.code, old.tags, hex(old.user_id));
    INSERT INTO snippets_fts (rowid, title, description, code, tags, owner)
    VALUES (new.seq, new.title, new.description, new.code, new.tags, hex(new.user_id));
END;

-- Events owed to other services, written in the same transaction as the change.
CREATE TABLE outbox (
    id              TEXT    PRIMARY KEY,
    target          TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    request_id      TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_error      TEXT,
    dead            INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX outbox_due ON outbox (dead, next_attempt_at);

-- Each user's snippet count, kept by triggers, so an unfiltered listing's total costs one
-- row instead of a walk over all of the user's index entries.
CREATE TABLE snippet_counts (
    user_id TEXT    PRIMARY KEY,
    n       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER snippets_count_insert AFTER INSERT ON snippets BEGIN
    INSERT OR IGNORE INTO snippet_counts (user_id, n) VALUES (new.user_id, 0);
    UPDATE snippet_counts SET n = n + 1 WHERE user_id = new.user_id;
END;

CREATE TRIGGER snippets_count_delete AFTER DELETE ON snippets BEGIN
    UPDATE snippet_counts SET n = n - 1 WHERE user_id = old.user_id;
END;

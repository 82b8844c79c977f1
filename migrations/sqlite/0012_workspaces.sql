-- Team workspaces. A personal workspace has no row: its key is its user's id, which the
-- snippets, counters, change log and embeddings of every existing user already carry in
-- their `user_id` column, so moving each snippet into its owner's personal workspace
-- rewrites nothing. A team workspace's key starts with `ws_`, which no user id may.
CREATE TABLE workspaces (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    group_name  TEXT,
    group_role  TEXT
) WITHOUT ROWID;

CREATE INDEX workspaces_by_group ON workspaces (group_name) WHERE group_name IS NOT NULL;

CREATE TABLE workspace_members (
    workspace_id TEXT    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    added_at     INTEGER NOT NULL,
    added_by     TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
) WITHOUT ROWID;

CREATE INDEX workspace_members_by_user ON workspace_members (user_id, workspace_id);

-- Who changed what, written by the change's own transaction. Never updated; pruned by age.
-- AUTOINCREMENT: a record's number is never given again, so a cursor stays exact.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor_id     TEXT    NOT NULL,
    via          TEXT    NOT NULL,
    token_id     TEXT,
    workspace_id TEXT,
    action       TEXT    NOT NULL,
    target_type  TEXT    NOT NULL,
    target_id    TEXT    NOT NULL,
    request_id   TEXT    NOT NULL,
    detail       TEXT
);

CREATE INDEX audit_by_workspace ON audit_log (workspace_id, seq);
CREATE INDEX audit_by_actor ON audit_log (actor_id, seq);
CREATE INDEX audit_by_age ON audit_log (at);

-- A personal token may be limited to some workspaces (their keys, as a JSON array); NULL is
-- every workspace its user can read.
ALTER TABLE access_tokens ADD COLUMN workspaces TEXT;

-- Read-only links to one snippet, for people without an account. Only a SHA-256 hash of each
-- link's key is kept. A revoked link keeps its row, so it answers "gone" rather than "unknown".
CREATE TABLE share_links (
    id           TEXT    PRIMARY KEY,
    key_hash     TEXT    NOT NULL UNIQUE,
    snippet_id   TEXT    NOT NULL,
    workspace_id TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    view_count   INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX share_links_by_snippet ON share_links (snippet_id, created_at);

-- What each change of a snippet replaced (pieces_model::history): a row per version a change
-- made, with when, who, the fields it changed and the reverse delta that rebuilds the version
-- before it (NULL once that one is no longer kept; a large delta is compressed by TOAST). A
-- snippet's first version gets its row when it is first changed, from the snippet's created_at
-- and created_by; a snippet written before this migration has no created_by (NULL: not known).
-- No row is rewritten.
CREATE TABLE snippet_history (
    snippet_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT,
    changed TEXT NOT NULL,
    previous TEXT,
    PRIMARY KEY (snippet_id, version)
);

ALTER TABLE snippets ADD COLUMN created_by TEXT;

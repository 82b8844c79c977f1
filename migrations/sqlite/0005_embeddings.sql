-- Each snippet's embedding under the model that made it: one signed byte per dimension for
-- the exact ranking, one bit per dimension for the first pass, and a digest of the embedded
-- text so an edit that leaves it alone is not embedded again. `seq` grows with every write,
-- so a search index catches up by reading what is newer than what it holds. Without a rowid
-- the rows are kept in snippet_id order: looking one up is one descent of one tree.
CREATE TABLE snippet_embeddings (
    snippet_id   TEXT    PRIMARY KEY REFERENCES snippets (id) ON DELETE CASCADE,
    user_id      TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    content_hash BLOB    NOT NULL,
    signs        BLOB    NOT NULL,
    vector       BLOB    NOT NULL,
    seq          INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX snippet_embeddings_by_model_user ON snippet_embeddings (model, user_id, seq);
CREATE INDEX snippet_embeddings_by_seq ON snippet_embeddings (seq);

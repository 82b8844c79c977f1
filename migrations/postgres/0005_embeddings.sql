-- Each snippet's embedding under the model that made it: one signed byte per dimension for
-- the exact ranking, one bit per dimension for the first pass, and a digest of the embedded
-- text so an edit that leaves it alone is not embedded again. `seq` grows with every write
-- and writers take a lock first, so seq order is commit order and a search index catches up
-- by reading what is newer than what it holds.
CREATE SEQUENCE snippet_embedding_seq;

CREATE TABLE snippet_embeddings (
    snippet_id   TEXT   PRIMARY KEY REFERENCES snippets (id) ON DELETE CASCADE,
    user_id      TEXT   NOT NULL,
    model        TEXT   NOT NULL,
    content_hash BYTEA  NOT NULL,
    signs        BYTEA  NOT NULL,
    vector       BYTEA  NOT NULL,
    seq          BIGINT NOT NULL
);

CREATE INDEX snippet_embeddings_by_model_user ON snippet_embeddings (model, user_id, seq);

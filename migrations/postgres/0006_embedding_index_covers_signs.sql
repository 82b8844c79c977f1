-- Building a user's search index reads every one of their sign codes in seq order. Holding
-- the codes in the index lets that be an index-only scan instead of a heap visit per row.
CREATE INDEX snippet_embeddings_signs_by_model_user ON snippet_embeddings (model, user_id, seq)
    INCLUDE (snippet_id, signs);
DROP INDEX snippet_embeddings_by_model_user;

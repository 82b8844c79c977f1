-- Building a user's search index reads every one of their sign codes in seq order. Through
-- an index that holds only the key, each row costs a lookup in the table (a million lookups
-- took seconds); holding the codes in the index makes it one ordered read.
CREATE INDEX snippet_embeddings_signs_by_model_user ON snippet_embeddings (model, user_id, seq, signs);
DROP INDEX snippet_embeddings_by_model_user;

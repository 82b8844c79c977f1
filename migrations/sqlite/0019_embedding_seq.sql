-- Embedding sequence numbers are never given out twice. They were the highest `seq` present
-- plus one, so deleting the latest embedding let the next one take its number, and a search
-- index that had applied the deleted one (reading `seq > last applied`) skipped the new one
-- until its next rebuild. The last number given out is kept here instead.
CREATE TABLE embedding_seq (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    last INTEGER NOT NULL
);
INSERT INTO embedding_seq (only, last) SELECT 1, COALESCE(MAX(seq), 0) FROM snippet_embeddings;

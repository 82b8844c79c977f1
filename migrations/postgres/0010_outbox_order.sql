-- Events that must reach their receiver in the order they were recorded (one snippet's sync
-- events, one user's context notifications) share an ordering key, and only the oldest
-- undelivered event of a key is handed out. `seq` gives the order: a change takes it after
-- the locks that order it against other changes of the same snippet or user.
ALTER TABLE outbox
    ADD COLUMN ordering_key TEXT,
    ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;

CREATE INDEX outbox_by_ordering_key ON outbox (ordering_key, seq) WHERE ordering_key IS NOT NULL;

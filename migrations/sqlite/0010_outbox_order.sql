-- Events that must reach their receiver in the order they were recorded (one snippet's sync
-- events, one user's context notifications) share an ordering key, and only the oldest
-- undelivered event of a key is handed out. The rowid gives the order: a new row's rowid is
-- larger than that of every row still in the table.
ALTER TABLE outbox ADD COLUMN ordering_key TEXT;

CREATE INDEX outbox_by_ordering_key ON outbox (ordering_key) WHERE ordering_key IS NOT NULL;

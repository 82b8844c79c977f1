-- The change stream: each user's changes, numbered in commit order. A change takes the next
-- number from change_positions in its own transaction, whose row lock keeps two changes of
-- one user from committing out of order. Old events are pruned; last_seq stays.
CREATE TABLE change_positions (
    user_id  TEXT   PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

CREATE TABLE changes (
    user_id TEXT   NOT NULL,
    seq     BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    subject TEXT,
    data    TEXT   NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, seq)
);

CREATE INDEX changes_by_age ON changes (at);

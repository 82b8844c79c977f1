-- Each user's snippet count, so an unfiltered listing's total reads one row instead of
-- counting every row the user has. Kept by triggers, so it commits or rolls back with the
-- change that moved it.
CREATE TABLE snippet_counts (
    user_id TEXT   PRIMARY KEY,
    n       BIGINT NOT NULL
);

-- Writers wait from here to this migration's commit: a row written between the backfill's
-- snapshot and the triggers' creation would otherwise be counted by neither.
LOCK TABLE snippets IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO snippet_counts (user_id, n)
SELECT user_id, count(*) FROM snippets GROUP BY user_id;

-- Statement-level, over the statement's transition table `changed`: a group commit of 64
-- creates updates each user's counter once, not 64 times. Users are taken in id order so two
-- statements touching the same users lock their counters in the same order (no deadlock).
CREATE FUNCTION snippet_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign BIGINT := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    INSERT INTO snippet_counts AS c (user_id, n)
    SELECT user_id, sign * count(*) FROM changed GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE TRIGGER snippets_count_insert AFTER INSERT ON snippets
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION snippet_counts_apply();

CREATE TRIGGER snippets_count_delete AFTER DELETE ON snippets
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION snippet_counts_apply();

-- The service never moves a snippet to another user, nor truncates; should anything else,
-- the counts follow. Row-level with a column list, so an ordinary update never fires it.
CREATE FUNCTION snippet_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE snippet_counts SET n = n - 1 WHERE user_id = OLD.user_id;
    INSERT INTO snippet_counts AS c (user_id, n) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET n = c.n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER snippets_count_move AFTER UPDATE OF user_id ON snippets
    FOR EACH ROW WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION snippet_counts_move();

CREATE FUNCTION snippet_counts_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE snippet_counts;
    RETURN NULL;
END
$$;

CREATE TRIGGER snippets_count_truncate AFTER TRUNCATE ON snippets
    FOR EACH STATEMENT EXECUTE FUNCTION snippet_counts_clear();

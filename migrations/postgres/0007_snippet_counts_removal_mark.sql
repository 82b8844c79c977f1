-- A search counts its matches only up to a cap, and a count that reached the cap stays there
-- while the user only adds snippets. `removed` moves whenever a search's matches among the
-- user's snippets may change other than by a create: a snippet is deleted, moved to another
-- user, or its searchable columns change (it may stop or start matching). The service keeps
-- a search's page only while this mark is unchanged, and brings it up to date with the
-- creates in the change log. Marks come from a sequence, so none repeats, even on a counter
-- row made anew.
CREATE SEQUENCE snippet_removals;

ALTER TABLE snippet_counts
    ADD COLUMN removed BIGINT NOT NULL DEFAULT nextval('snippet_removals');

CREATE OR REPLACE FUNCTION snippet_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign BIGINT := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    INSERT INTO snippet_counts AS c (user_id, n)
    SELECT user_id, sign * count(*) FROM changed GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET
        n = c.n + excluded.n,
        removed = CASE WHEN sign < 0 THEN nextval('snippet_removals') ELSE c.removed END;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION snippet_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE snippet_counts SET n = n - 1, removed = nextval('snippet_removals')
    WHERE user_id = OLD.user_id;
    INSERT INTO snippet_counts AS c (user_id, n) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET n = c.n + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION snippet_counts_mark_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE snippet_counts SET removed = nextval('snippet_removals') WHERE user_id = NEW.user_id;
    RETURN NULL;
END
$$;

-- Row-level with a column list: enrichment, which writes only `metadata`, never fires it.
CREATE TRIGGER snippets_search_changed
    AFTER UPDATE OF title, code, description, tags, language ON snippets
    FOR EACH ROW WHEN (
        OLD.search IS DISTINCT FROM NEW.search
        OR OLD.language IS DISTINCT FROM NEW.language
        OR OLD.tags IS DISTINCT FROM NEW.tags
    )
    EXECUTE FUNCTION snippet_counts_mark_removal();

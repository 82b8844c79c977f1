-- Each snippet's tags as rows, kept by triggers, so a listing by tag walks one user's entries
-- for that tag newest first instead of reading every row of the user to look inside `tags`.
CREATE TABLE snippet_tags (
    user_id    TEXT   NOT NULL,
    tag        TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    id         TEXT   NOT NULL,
    PRIMARY KEY (user_id, tag, created_at, id)
);

-- Writers wait from here to this migration's commit: a row written between the backfill's
-- snapshot and the triggers' creation would otherwise have no tag rows.
LOCK TABLE snippets IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO snippet_tags (user_id, tag, created_at, id)
SELECT DISTINCT s.user_id, t.tag, s.created_at, s.id
FROM snippets s, jsonb_array_elements_text(s.tags) AS t(tag);

-- Statement-level over the transition tables, as the counters are: a group commit of 64
-- creates is one insert here.
CREATE FUNCTION snippet_tags_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO snippet_tags (user_id, tag, created_at, id)
    SELECT DISTINCT c.user_id, t.tag, c.created_at, c.id
    FROM changed c, jsonb_array_elements_text(c.tags) AS t(tag)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION snippet_tags_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM snippet_tags st
    USING changed c, jsonb_array_elements_text(c.tags) AS t(tag)
    WHERE st.user_id = c.user_id AND st.tag = t.tag
      AND st.created_at = c.created_at AND st.id = c.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER snippet_tags_insert AFTER INSERT ON snippets
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION snippet_tags_added();

CREATE TRIGGER snippet_tags_delete AFTER DELETE ON snippets
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION snippet_tags_removed();

-- Row-level with a column list: an edit that leaves tags and owner alone never fires it.
CREATE FUNCTION snippet_tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM snippet_tags
    WHERE user_id = OLD.user_id AND created_at = OLD.created_at AND id = OLD.id
      AND tag IN (SELECT jsonb_array_elements_text(OLD.tags));
    INSERT INTO snippet_tags (user_id, tag, created_at, id)
    SELECT DISTINCT NEW.user_id, t.tag, NEW.created_at, NEW.id
    FROM jsonb_array_elements_text(NEW.tags) AS t(tag)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER snippet_tags_update AFTER UPDATE OF tags, user_id, created_at ON snippets
    FOR EACH ROW WHEN (
        OLD.tags IS DISTINCT FROM NEW.tags
        OR OLD.user_id IS DISTINCT FROM NEW.user_id
        OR OLD.created_at IS DISTINCT FROM NEW.created_at
    )
    EXECUTE FUNCTION snippet_tags_changed();

CREATE FUNCTION snippet_tags_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE snippet_tags;
    RETURN NULL;
END
$$;

CREATE TRIGGER snippet_tags_truncate AFTER TRUNCATE ON snippets
    FOR EACH STATEMENT EXECUTE FUNCTION snippet_tags_clear();

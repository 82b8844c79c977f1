-- Each snippet's tags as rows, kept by triggers, so a listing by tag walks one user's entries
-- for that tag newest first instead of reading every row of the user to look inside `tags`.
CREATE TABLE snippet_tags (
    user_id TEXT    NOT NULL,
    tag     TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (user_id, tag, seq)
) WITHOUT ROWID;

INSERT OR IGNORE INTO snippet_tags (user_id, tag, seq)
SELECT s.user_id, t.value, s.seq FROM snippets s, json_each(s.tags) t;

CREATE TRIGGER snippet_tags_insert AFTER INSERT ON snippets BEGIN
    INSERT OR IGNORE INTO snippet_tags (user_id, tag, seq)
    SELECT new.user_id, value, new.seq FROM json_each(new.tags);
END;

CREATE TRIGGER snippet_tags_delete AFTER DELETE ON snippets BEGIN
    DELETE FROM snippet_tags
    WHERE user_id = old.user_id AND seq = old.seq
      AND tag IN (SELECT value FROM json_each(old.tags));
END;

CREATE TRIGGER snippet_tags_update AFTER UPDATE OF tags, user_id ON snippets BEGIN
    DELETE FROM snippet_tags
    WHERE user_id = old.user_id AND seq = old.seq
      AND tag IN (SELECT value FROM json_each(old.tags));
    INSERT OR IGNORE INTO snippet_tags (user_id, tag, seq)
    SELECT new.user_id, value, new.seq FROM json_each(new.tags);
END;

-- Snippets of several files (pieces_model::files): the list, as JSON without the first file's
-- code (that is `code`), or NULL for a snippet of one unnamed file, the only kind written
-- before. Adding a nullable column rewrites no row.
ALTER TABLE snippets ADD COLUMN files TEXT;
ALTER TABLE snippets_trash ADD COLUMN files TEXT;

-- The text index's `code` column now also holds every other file, each after its name. Every
-- row written before has no files, so what the index holds for it is unchanged and only the
-- triggers are replaced. Deletes give the index the same text the insert gave it.
DROP TRIGGER snippets_fts_insert;
DROP TRIGGER snippets_fts_delete;
DROP TRIGGER snippets_fts_update;

CREATE TRIGGER snippets_fts_insert AFTER INSERT ON snippets BEGIN
    INSERT INTO snippets_fts (rowid, title, description, code, tags, owner)
    VALUES (new.seq, new.title, new.description,
            new.code || coalesce((SELECT group_concat(json_extract(value, '$.name') || char(10)
                                      || coalesce(json_extract(value, '$.code'), ''), char(10))
                                  FROM json_each(new.files)), ''),
            new.tags, hex(new.user_id));
END;

CREATE TRIGGER snippets_fts_delete AFTER DELETE ON snippets BEGIN
    INSERT INTO snippets_fts (snippets_fts, rowid, title, description, code, tags, owner)
    VALUES ('delete', old.seq, old.title, old.description,
            old.code || coalesce((SELECT group_concat(json_extract(value, '$.name') || char(10)
                                      || coalesce(json_extract(value, '$.code'), ''), char(10))
                                  FROM json_each(old.files)), ''),
            old.tags, hex(old.user_id));
END;

CREATE TRIGGER snippets_fts_update AFTER UPDATE OF title, description, code, tags, files
ON snippets BEGIN
    INSERT INTO snippets_fts (snippets_fts, rowid, title, description, code, tags, owner)
    VALUES ('delete', old.seq, old.title, old.description,
            old.code || coalesce((SELECT group_concat(json_extract(value, '$.name') || char(10)
                                      || coalesce(json_extract(value, '$.code'), ''), char(10))
                                  FROM json_each(old.files)), ''),
            old.tags, hex(old.user_id));
    INSERT INTO snippets_fts (rowid, title, description, code, tags, owner)
    VALUES (new.seq, new.title, new.description,
            new.code || coalesce((SELECT group_concat(json_extract(value, '$.name') || char(10)
                                      || coalesce(json_extract(value, '$.code'), ''), char(10))
                                  FROM json_each(new.files)), ''),
            new.tags, hex(new.user_id));
END;

-- Snippets of several files (pieces_model::files): the list, as JSON text without the first
-- file's code (that is `code`), or NULL for a snippet of one unnamed file, the only kind
-- written before. Nullable columns without a default rewrite no row.
ALTER TABLE snippets ADD COLUMN files TEXT;
ALTER TABLE snippets_trash ADD COLUMN files TEXT;

-- A snippet of several files is searched by `files_search`: everything `search` holds plus
-- every other file after its name, so a query's words may match across files. It is NULL
-- for every other row (their `search` says it all) and a search asks
-- `search @@ q OR files_search @@ q`. Changing `search`'s own expression would rewrite every
-- row and its index. The code read is capped as `search` caps it, half for the first file
-- and half for the others, as a tsvector cannot exceed 1 MiB.
ALTER TABLE snippets ADD COLUMN files_search TSVECTOR;
CREATE INDEX snippets_files_search ON snippets USING GIN (files_search) WITH (fastupdate = off);

-- A BEFORE trigger does not see generated columns yet, hence `search`'s expression again.
CREATE FUNCTION snippets_files_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.files IS NULL THEN
        NEW.files_search := NULL;
    ELSE
        NEW.files_search :=
            to_tsvector('simple', NEW.title)
            || to_tsvector('simple', coalesce(NEW.description, ''))
            || to_tsvector('simple', left(NEW.code, 131072))
            || jsonb_to_tsvector('simple', NEW.tags, '["string"]')
            || to_tsvector('simple', left(coalesce(
                   (SELECT string_agg(f->>'name' || E'\n' || coalesce(f->>'code', ''), E'\n')
                    FROM jsonb_array_elements(NEW.files::jsonb) AS f), ''), 131072));
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER snippets_files_search_insert BEFORE INSERT ON snippets
    FOR EACH ROW WHEN (NEW.files IS NOT NULL)
    EXECUTE FUNCTION snippets_files_search();
CREATE TRIGGER snippets_files_search_update BEFORE UPDATE OF title, description, code, tags, files
    ON snippets
    FOR EACH ROW WHEN (NEW.files IS NOT NULL OR OLD.files IS NOT NULL)
    EXECUTE FUNCTION snippets_files_search();

-- A change of the other files can make a snippet stop or start matching: it moves the
-- workspace's removal mark as a change of `search` does (0007), so kept search pages are
-- found afresh.
CREATE TRIGGER snippets_files_search_changed AFTER UPDATE OF files ON snippets
    FOR EACH ROW WHEN (OLD.files_search IS DISTINCT FROM NEW.files_search)
    EXECUTE FUNCTION snippet_counts_mark_removal();

-- A snippet moved to another user may start matching that user's searches, and its arrival is
-- not in their change log as a create. So the move also moves the new owner's removal mark
-- (0007 moved only the old owner's), and the new owner's kept search pages are found afresh.
-- The service itself never moves a snippet; this keeps kept pages right for a move made in
-- the database.
CREATE OR REPLACE FUNCTION snippet_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE snippet_counts SET n = n - 1, removed = nextval('snippet_removals')
    WHERE user_id = OLD.user_id;
    INSERT INTO snippet_counts AS c (user_id, n) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE SET n = c.n + 1, removed = nextval('snippet_removals');
    RETURN NULL;
END
$$;

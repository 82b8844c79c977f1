-- A snippet moved to another workspace (an update of user_id) leaves the count of the one
-- it left and joins the other's. Every update names user_id, so only a real move counts.
-- The text index's owner token and the tag rows already follow user_id on every update.
CREATE TRIGGER snippets_count_move AFTER UPDATE OF user_id ON snippets
WHEN old.user_id <> new.user_id BEGIN
    UPDATE snippet_counts SET n = n - 1 WHERE user_id = old.user_id;
    INSERT OR IGNORE INTO snippet_counts (user_id, n) VALUES (new.user_id, 0);
    UPDATE snippet_counts SET n = n + 1 WHERE user_id = new.user_id;
END;

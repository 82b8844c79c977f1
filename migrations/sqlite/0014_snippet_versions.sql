-- Each snippet's version: 1 at creation, one more at each change. Snippets written before
-- versions existed start at 1.
ALTER TABLE snippets ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- Each snippet's version: 1 at creation, one more at each change. Snippets written before
-- versions existed start at 1 (a constant default: no row is rewritten).
ALTER TABLE snippets ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

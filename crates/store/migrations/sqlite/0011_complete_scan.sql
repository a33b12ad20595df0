-- A payload marked as a complete scan of its scope (`?complete_scan=1`): committing it resolves
-- the open cases of its source and scope (account, region) whose finding it no longer has.

ALTER TABLE inbox ADD COLUMN complete_scan INTEGER NOT NULL DEFAULT 0;

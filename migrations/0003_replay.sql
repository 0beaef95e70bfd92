-- Replay tooling: rebuilds build a projection's tables in a schema of their own and swap them
-- in; every table of a read model is derived from the log alone.

-- Read-model tables have no foreign keys: each is rebuilt and swapped on its own, and the log
-- (not the database) decides what exists.
ALTER TABLE members DROP CONSTRAINT IF EXISTS members_room_id_fkey;

-- The live projector's last failure to apply (shown by `natter projections status`; cleared by
-- its next commit).
ALTER TABLE projection_checkpoints ADD COLUMN last_error text;

-- The room a file belongs to, for a link preview's image (recorded on its room's subject, as
-- its removal is): NULL for uploads, which are their owners'.
ALTER TABLE files ADD COLUMN room_id uuid;

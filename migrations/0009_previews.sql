-- Link previews (history read model): [{url, title?, description?, site_name?, image?: {file_id,
-- width, height}}] per message, one per URL, as `message.preview_added` recorded them; NULL for
-- none. A preview's image is a file (in `files`) that the message makes readable, like an
-- attachment.
ALTER TABLE messages ADD COLUMN previews jsonb;
CREATE INDEX messages_previews ON messages USING GIN (previews jsonb_path_ops)
    WHERE previews IS NOT NULL;

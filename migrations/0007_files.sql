-- Files (history read model): each upload as the log records it (`file.uploaded`,
-- `file.removed`); the bytes are in the file store, under the file's id.
CREATE TABLE files (
    id           uuid PRIMARY KEY,
    owner_id     uuid NOT NULL,
    -- The uploader's personal data.
    name         text NOT NULL,
    size         bigint NOT NULL,
    content_type text NOT NULL,
    width        integer,
    height       integer,
    -- {width, height, content_type, size} of the thumbnail, when one was made.
    thumbnail    jsonb,
    -- Keyed hash of the bytes (see `file.uploaded`).
    hash         text NOT NULL,
    uploaded_at  timestamptz NOT NULL,
    seq          bigint NOT NULL,
    -- Set once a message carried it: from then on only messages make it readable.
    attached     boolean NOT NULL DEFAULT false,
    removed_at   timestamptz
);
-- A user's stored bytes (the quota) and uploads never attached (the sweeper).
CREATE INDEX files_owner ON files (owner_id) WHERE removed_at IS NULL;
CREATE INDEX files_unattached ON files (uploaded_at) WHERE NOT attached AND removed_at IS NULL;

-- The files a message carries ([{file_id, name, size, content_type, width, height,
-- thumbnail}]); NULL for none. Who may read a file is found through it.
ALTER TABLE messages ADD COLUMN attachments jsonb;
CREATE INDEX messages_attachments ON messages USING GIN (attachments jsonb_path_ops)
    WHERE attachments IS NOT NULL;

ALTER TABLE search_messages
    ADD COLUMN has_image boolean NOT NULL DEFAULT false,
    ADD COLUMN has_link boolean NOT NULL DEFAULT false;

-- Edits, deletes, reactions, threads and pins (history); read positions, unread and mention
-- counts (unread); the full-text index (search). Each projection writes only its own tables, so
-- each can be dropped and rebuilt from the log alone.

-- history ---------------------------------------------------------------------------------

ALTER TABLE messages
    ADD COLUMN last_reply_at timestamptz,
    -- Who replied in the thread this message roots, in order of first reply (at most 20).
    ADD COLUMN thread_participants uuid[] NOT NULL DEFAULT '{}';
-- Thread pages: one range scan.
CREATE INDEX messages_thread ON messages (thread_root_id, seq) WHERE thread_root_id IS NOT NULL;

-- One row per edit, with the body it replaced: the versions of a message are the original
-- (the first edit's body_before, or the current body) followed by each edit's result. Only
-- edited messages cost a row. Rows go when the message is deleted.
CREATE TABLE message_edits (
    message_id  uuid NOT NULL,
    seq         bigint NOT NULL,
    body_before text NOT NULL,
    edited_at   timestamptz NOT NULL,
    PRIMARY KEY (message_id, seq)
);

-- One row per (message, emoji, user): a user reacts once per emoji.
CREATE TABLE reactions (
    message_id uuid NOT NULL,
    emoji      text NOT NULL,
    user_id    uuid NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

CREATE TABLE pins (
    room_id    uuid NOT NULL,
    message_id uuid NOT NULL,
    pinned_by  uuid NOT NULL,
    pinned_at  timestamptz NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (room_id, message_id)
);

-- Moderation: a muted member cannot send until `muted_until`; a banned user cannot join again.
ALTER TABLE members ADD COLUMN muted_until timestamptz;

CREATE TABLE bans (
    room_id   uuid NOT NULL,
    user_id   uuid NOT NULL,
    banned_by uuid NOT NULL,
    banned_at timestamptz NOT NULL,
    seq       bigint NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- unread ----------------------------------------------------------------------------------
--
-- Counts are differences of counters, never a count over a room's messages:
--   unread(member) = room.messages - member.read_ordinal - (deleted messages after the position)
-- where `messages` counts the room's messages and `read_ordinal` is that count at the member's
-- read position. A member's own messages are never after their position (sending moves it), so
-- they are never unread. Deletes are rare, and counted through a partial index.

CREATE TABLE unread_rooms (
    room_id  uuid PRIMARY KEY,
    -- How many messages the room has had (its newest message's ordinal).
    messages bigint NOT NULL DEFAULT 0,
    -- seq of the newest event in the room.
    last_seq bigint NOT NULL DEFAULT 0
);

-- Every message's place in its room's count.
CREATE TABLE unread_messages (
    room_id    uuid NOT NULL,
    seq        bigint NOT NULL,
    ordinal    bigint NOT NULL,
    message_id uuid NOT NULL UNIQUE,
    deleted    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX unread_messages_deleted ON unread_messages (room_id, seq) WHERE deleted;

-- A member's read position: a row per membership, made at join (at the join's seq).
CREATE TABLE read_positions (
    room_id       uuid NOT NULL,
    user_id       uuid NOT NULL,
    last_read_seq bigint NOT NULL,
    -- unread_rooms.messages as of last_read_seq.
    read_ordinal  bigint NOT NULL,
    -- How many rows of unread_mentions this member has in this room (kept with them).
    mentions      integer NOT NULL DEFAULT 0,
    read_at       timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX read_positions_by_user ON read_positions (user_id, room_id);

-- One row per unread mention of a member in a live (not deleted) message; every insert and
-- delete here moves read_positions.mentions in the same statement.
CREATE TABLE unread_mentions (
    user_id    uuid NOT NULL,
    room_id    uuid NOT NULL,
    seq        bigint NOT NULL,
    message_id uuid NOT NULL,
    PRIMARY KEY (user_id, room_id, seq)
);
CREATE INDEX unread_mentions_by_message ON unread_mentions (message_id);

-- search ----------------------------------------------------------------------------------

-- Live (not deleted) messages with their text-search vector, computed by the projector with
-- its configured text-search configuration. Narrow on purpose (no body: highlights read it
-- from messages for the returned page only): searches for common words read many rows.
CREATE TABLE search_messages (
    message_id     uuid PRIMARY KEY,
    room_id        uuid NOT NULL,
    seq            bigint NOT NULL,
    sender_id      uuid NOT NULL,
    created_at     timestamptz NOT NULL,
    has_attachment boolean NOT NULL DEFAULT false,
    tsv            tsvector NOT NULL
);
CREATE INDEX search_messages_tsv ON search_messages USING GIN (tsv);
-- How common each word is decides the plan (GIN index, or newest messages first): keep
-- frequencies for many more words than the default.
ALTER TABLE search_messages ALTER COLUMN tsv SET STATISTICS 1000;
CREATE INDEX search_messages_room ON search_messages (room_id, seq);
-- Newest first: for terms so common that reading their matches newest-first (and stopping at
-- the candidate window) beats collecting them all from the GIN index.
CREATE INDEX search_messages_seq ON search_messages (seq);

-- The text-search configuration the vectors were built with; searches use the same one.
CREATE TABLE search_settings (
    id     integer PRIMARY KEY CHECK (id = 1),
    config text NOT NULL
);

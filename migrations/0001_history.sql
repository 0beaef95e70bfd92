-- The history read model, and the checkpoints of every projection.
-- Nothing writes here except the projectors (and these migrations): every row is derived from
-- the event log and can be dropped and rebuilt from it.

-- How far each projection has applied the log. A projector advances its row in the same
-- transaction as the effects of the events it applied, and skips events at or below it, so
-- redelivered events have no second effect.
CREATE TABLE projection_checkpoints (
    name       text PRIMARY KEY,
    last_seq   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    -- Lowercase; unique because registration is guarded by the log (one subject per name).
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    -- argon2id PHC string, from the user.registered event.
    password_hash text NOT NULL,
    status_text   text,
    created_at    timestamptz NOT NULL,
    seq           bigint NOT NULL
);

CREATE TABLE rooms (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('room', 'dm')),
    name        text NOT NULL,
    topic       text,
    visibility  text NOT NULL CHECK (visibility IN ('public', 'private')),
    archived    boolean NOT NULL DEFAULT false,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    -- seq of the newest event in the room (the cursor a client compares with).
    last_seq    bigint NOT NULL
);
CREATE INDEX rooms_public ON rooms (created_at DESC) WHERE visibility = 'public' AND NOT archived;

CREATE TABLE members (
    room_id    uuid NOT NULL REFERENCES rooms (id),
    user_id    uuid NOT NULL,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at  timestamptz NOT NULL,
    joined_seq bigint NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
-- "My rooms".
CREATE INDEX members_by_user ON members (user_id, room_id);

CREATE TABLE messages (
    -- UUIDv5 of (sender, client_msg_id): a retried send names the same message, so the
    -- primary key also makes a send outside JetStream's dedupe window a no-op.
    id             uuid PRIMARY KEY,
    room_id        uuid NOT NULL,
    seq            bigint NOT NULL,
    sender_id      uuid NOT NULL,
    client_msg_id  text NOT NULL,
    body           text,
    created_at     timestamptz NOT NULL,
    edited_at      timestamptz,
    deleted        boolean NOT NULL DEFAULT false,
    thread_root_id uuid,
    reply_count    integer NOT NULL DEFAULT 0,
    mentions       uuid[] NOT NULL DEFAULT '{}',
    UNIQUE (sender_id, client_msg_id)
);
-- History pages: one range scan per page, both directions.
CREATE UNIQUE INDEX messages_room_seq ON messages (room_id, seq);

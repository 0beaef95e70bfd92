-- Blocking and direct-conversation requests (history read model).
-- `user_id` blocks `blocked_id` (`user.blocked`, `user.unblocked`).
CREATE TABLE blocks (
    user_id    uuid NOT NULL,
    blocked_id uuid NOT NULL,
    blocked_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
);
CREATE INDEX blocks_by_blocked ON blocks (blocked_id, user_id);

-- Direct conversations opened by people who share no room with the user wait for the user's
-- acceptance (`user.settings_updated`).
ALTER TABLE users ADD COLUMN dm_requests boolean NOT NULL DEFAULT false;

-- A member of a direct conversation who has not accepted it yet (`member.accepted`).
ALTER TABLE members ADD COLUMN pending boolean NOT NULL DEFAULT false;

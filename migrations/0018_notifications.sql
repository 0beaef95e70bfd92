-- Notification settings (history read model): what reaches a user who is not connected
-- through the push hook (`user.settings_updated`), and the rooms they muted
-- (`user.room_muted`).
ALTER TABLE users ADD COLUMN notify text NOT NULL DEFAULT 'all'
    CHECK (notify IN ('all', 'mentions', 'none'));
CREATE TABLE room_mutes (
    user_id uuid NOT NULL,
    room_id uuid NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

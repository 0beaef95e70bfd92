-- A mute outlives leaving the room: a muted member who leaves and joins again is still muted
-- until `until` (members.muted_until is copied from here on every join).
CREATE TABLE mutes (
    room_id uuid NOT NULL,
    user_id uuid NOT NULL,
    until   timestamptz NOT NULL,
    seq     bigint NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Mutes of current members; those of members who already left come back with a rebuild of
-- the history projection (`natter projections rebuild history`).
INSERT INTO mutes (room_id, user_id, until, seq)
SELECT room_id, user_id, muted_until, joined_seq FROM members WHERE muted_until IS NOT NULL
ON CONFLICT DO NOTHING;

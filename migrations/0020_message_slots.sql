-- Per-message erasure (history read model): the slot of each version of a message (its post
-- and each edit), so that deleting the message destroys their keys; and the slots still to
-- destroy, a work queue the projector's reaper drains (recorded with the delete itself).
CREATE TABLE message_slots (
    message_id uuid NOT NULL,
    slot       text NOT NULL,
    PRIMARY KEY (message_id, slot)
);
CREATE TABLE pending_slot_erasures (
    slot text PRIMARY KEY
);

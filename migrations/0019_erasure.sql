-- Erasure (history read model). A message whose author was erased keeps its place, without
-- its text (`erased`). Keys still to destroy after an erasure, until the projector's reaper
-- has destroyed them (and released the username): recorded with the erasure itself, so that
-- a crash between the two cannot leave a key behind. A work queue, not state: rebuilds fill
-- it again (finishing an erasure twice changes nothing); verify does not compare it.
ALTER TABLE messages ADD COLUMN erased boolean NOT NULL DEFAULT false;
CREATE TABLE pending_erasures (
    user_id    uuid PRIMARY KEY,
    name_token text,
    erased_at  timestamptz NOT NULL
);

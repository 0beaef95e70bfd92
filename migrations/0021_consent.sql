-- How each membership began (history read model), for consent: someone put in a room by
-- another (`added_by`, the adder) has not chosen it until they accept it (`member.accepted`)
-- or post in it; a member who created or joined the room chose it themselves (`added_by`
-- NULL). Presence, keys and profile changes are shared, and a room add needs no acceptance,
-- only through memberships the person chose (`accepted`).
ALTER TABLE members ADD COLUMN added_by uuid;
ALTER TABLE members ADD COLUMN accepted boolean NOT NULL DEFAULT false;
-- What the read model cannot tell of memberships projected before: a room's creator chose
-- it, and so did whoever posted in it; everyone else in a public room or a conversation not
-- waiting is taken as having chosen it (as before). `projections rebuild history` derives
-- the exact answer from the log.
UPDATE members m SET accepted = true
  FROM rooms r
 WHERE r.id = m.room_id
   AND (r.created_by = m.user_id OR NOT m.pending);
UPDATE members m SET added_by = r.created_by
  FROM rooms r
 WHERE r.id = m.room_id AND r.created_by <> m.user_id AND r.kind = 'dm';

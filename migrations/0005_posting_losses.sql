-- Events that took a user's right to post in a room (left, kicked, banned, muted), or
-- everyone's (the room archived: user_id NULL), one table per read model so that each is
-- rebuilt alone. A post whose access check saw the log before one of these and that landed
-- after it is void: no read model keeps it (natter_schemas MessagePosted::void_given).
CREATE TABLE history_posting_losses (
    room_id uuid NOT NULL,
    seq     bigint NOT NULL,
    user_id uuid,
    PRIMARY KEY (room_id, seq)
);
CREATE TABLE unread_posting_losses (LIKE history_posting_losses INCLUDING ALL);
CREATE TABLE search_posting_losses (LIKE history_posting_losses INCLUDING ALL);

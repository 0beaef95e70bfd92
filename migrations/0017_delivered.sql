-- Delivery receipts (unread read model): how far each member's devices have received the
-- room's events (`delivered.updated`, coalesced per room by the gateways).
ALTER TABLE read_positions ADD COLUMN delivered_seq bigint NOT NULL DEFAULT 0;

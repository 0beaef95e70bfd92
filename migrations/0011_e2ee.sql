-- End-to-end encryption (history read model). A room's `e2ee` is set at creation, for good.
ALTER TABLE rooms ADD COLUMN e2ee boolean NOT NULL DEFAULT false;
-- An encrypted message's content ({ciphertext, device_key_id}), as the sender's device made
-- it: the server never reads it. Its `body` is ''. Deletes clear it.
ALTER TABLE messages ADD COLUMN encrypted jsonb;
ALTER TABLE message_edits ADD COLUMN encrypted_before jsonb;
-- Devices' public keys, per user, as `device.key_published` and `device.key_revoked` left them.
CREATE TABLE device_keys (
    user_id      uuid NOT NULL,
    key_id       text NOT NULL,
    algorithm    text NOT NULL,
    public_key   text NOT NULL,
    published_at timestamptz NOT NULL,
    seq          bigint NOT NULL,
    PRIMARY KEY (user_id, key_id)
);

-- The user directory (history read model): the keys a user is found by in `GET /v1/users?q=`,
-- each folded (lowercase, without accents): their username and each word of their display
-- name. A prefix search is one index range (the keys compare bytewise: COLLATE "C").
CREATE TABLE user_name_keys (
    user_id uuid NOT NULL,
    key     text COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX user_name_keys_key ON user_name_keys (key);

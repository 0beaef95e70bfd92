-- Sessions (history read model): one row per sign-in, from `session.*` events and password
-- changes. A token of a session is good while its row has no `ended_at`.
CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    device       text,
    created_at   timestamptz NOT NULL,
    -- The generation of the session's one good refresh token.
    generation   integer NOT NULL DEFAULT 0,
    -- The seq of the last event on the session's own subject (0: none yet): a refresh is
    -- appended only if it is still the last, so each refresh token is spent once.
    last_seq     bigint NOT NULL DEFAULT 0,
    ended_at     timestamptz,
    ended_reason text
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at DESC);

-- Tokens of the user issued before this time that belong to no session here (an identity
-- provider's, or older than sessions) are refused (`user.sessions_ended`, password changes).
ALTER TABLE users ADD COLUMN tokens_before timestamptz;

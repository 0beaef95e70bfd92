-- Which log the read models were built from: the stream's name and its creation time (the
-- WebSocket `epoch`). natter refuses to serve or project a database built from another log
-- (another namespace, or a stream recreated after its data was lost).
CREATE TABLE log_identity (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    stream      text NOT NULL,
    epoch       text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

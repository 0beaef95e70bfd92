-- Calls (history read model): each call's summary, as `call.ended` recorded it.
CREATE TABLE calls (
    call_id       uuid PRIMARY KEY,
    room_id       uuid NOT NULL,
    caller        uuid NOT NULL,
    participants  uuid[] NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz NOT NULL,
    ended_by      uuid NOT NULL,
    duration_secs bigint NOT NULL,
    answered      boolean NOT NULL,
    seq           bigint NOT NULL
);
CREATE INDEX calls_room ON calls (room_id, seq DESC);

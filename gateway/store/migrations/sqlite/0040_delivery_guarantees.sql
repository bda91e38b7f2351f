-- When the relay began DATA for the current attempt. Set before the first
-- byte of the message leaves, cleared with the attempt's outcome: a value
-- left behind by a crash means the upstream may already have the message.
ALTER TABLE messages ADD COLUMN sending_since REAL;
-- Why the message is still waiting: the last attempt's error, for `herald queue`.
ALTER TABLE messages ADD COLUMN last_error TEXT;
-- messages.status is now queued | held | done | purged.

-- Reports of permanent failures waiting to go out: a signed callback or a
-- bounce. Written in the same transaction as the failure, so a crash
-- cannot lose one.
CREATE TABLE notices (
    id              INTEGER PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs (id),
    kind            TEXT NOT NULL,  -- callback | bounce
    payload         TEXT NOT NULL,  -- JSON
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    done_at         REAL,
    error           TEXT
);
CREATE INDEX notices_due ON notices (done_at, next_attempt_at);

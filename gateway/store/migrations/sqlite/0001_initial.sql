-- Runs: one per accepted event or message, whatever became of it.
CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    source          TEXT NOT NULL,
    email_type      TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    status          TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    mail_from       TEXT NOT NULL DEFAULT '',
    error           TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_type ON runs (email_type, id);

-- The queue: the exact bytes to relay, and who holds the lease on them.
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs (id),
    mail_from       TEXT NOT NULL,
    content         BLOB NOT NULL,
    status          TEXT NOT NULL,  -- queued | done
    attempts        INTEGER NOT NULL DEFAULT 0,
    queued_at       REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL
);
CREATE INDEX messages_due ON messages (status, next_attempt_at);

-- One item per recipient: the address, why it is there, what became of it.
CREATE TABLE items (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (id),
    message_id  TEXT REFERENCES messages (id),
    address     TEXT NOT NULL,
    role        TEXT NOT NULL,
    rule        TEXT NOT NULL,
    status      TEXT NOT NULL,
    reply       TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    updated_at  REAL NOT NULL
);
CREATE INDEX items_by_run ON items (run_id);
CREATE INDEX items_by_message ON items (message_id, status);

-- Every step of a run, in order.
CREATE TABLE history (
    id      INTEGER PRIMARY KEY,
    run_id  TEXT NOT NULL REFERENCES runs (id),
    at      REAL NOT NULL,
    event   TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX history_by_run ON history (run_id, id);

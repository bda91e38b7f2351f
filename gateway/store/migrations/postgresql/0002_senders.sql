-- Sender identities, named by the from key that types and definitions use.
CREATE TABLE senders (
    key         TEXT PRIMARY KEY,
    address     TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    updated_at  DOUBLE PRECISION NOT NULL
);

-- Recipients Herald no longer sends to: the upstream (or a bounce) said the
-- mailbox does not exist, or an operator put them here. The address is kept
-- lower-cased, so that one mailbox is one row; the run that taught it is kept
-- by id only, as runs are pruned on their own clock.
CREATE TABLE suppressions (
    address     TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL,  -- upstream | bounce | operator
    run_id      TEXT,
    created_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX suppressions_by_time ON suppressions (created_at);

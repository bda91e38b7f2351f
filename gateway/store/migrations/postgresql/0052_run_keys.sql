-- Further idempotency keys of a run besides runs.idempotency_key, such as
-- the webhook-id of the delivery that created it.
CREATE TABLE run_keys (
    key     TEXT PRIMARY KEY,
    run_id  TEXT NOT NULL REFERENCES runs (id)
);

-- Customers synced from the platform, with their clusters and addresses.
CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    locale      TEXT NOT NULL DEFAULT '',
    fields      TEXT NOT NULL DEFAULT '{}',  -- JSON object
    updated_at  DOUBLE PRECISION NOT NULL
);

CREATE TABLE customer_clusters (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    cluster     TEXT NOT NULL,
    PRIMARY KEY (cluster, customer_id)
);
CREATE INDEX customer_clusters_by_customer ON customer_clusters (customer_id);

-- A recipient key (invoice, technical...) may hold several addresses.
CREATE TABLE customer_addresses (
    customer_id   TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    recipient_key TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    address       TEXT NOT NULL,
    PRIMARY KEY (customer_id, recipient_key, seq)
);

-- Message definitions, kept as the validated JSON document.
CREATE TABLE definitions (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL
);

-- A definition run: the definition and batch it runs (unique, so that a batch
-- is never sent twice), where its invoices are, how far it was fed, timings.
ALTER TABLE runs ADD COLUMN definition TEXT;
ALTER TABLE runs ADD COLUMN batch_id TEXT;
ALTER TABLE runs ADD COLUMN invoices_dir TEXT;
ALTER TABLE runs ADD COLUMN feed_cursor TEXT;
ALTER TABLE runs ADD COLUMN fed_at DOUBLE PRECISION;
ALTER TABLE runs ADD COLUMN finished_at DOUBLE PRECISION;
ALTER TABLE runs ADD COLUMN expected INTEGER;  -- customers selected when it started
CREATE UNIQUE INDEX runs_by_batch ON runs (definition, batch_id);

ALTER TABLE items ADD COLUMN customer_id TEXT;
CREATE INDEX items_by_run_status ON items (run_id, status, id);

-- Per-run counts by item status, kept in step with the items so that a run of
-- 100,000 recipients never has to be counted again on every outcome.
CREATE TABLE run_counts (
    run_id  TEXT NOT NULL REFERENCES runs (id),
    status  TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (run_id, status)
);
INSERT INTO run_counts (run_id, status, n)
    SELECT run_id, status, count(*) FROM items GROUP BY run_id, status;

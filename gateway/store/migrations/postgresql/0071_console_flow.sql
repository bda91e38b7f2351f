-- The console's overview counts the last day's runs by type and status;
-- this index answers that from the index alone.
CREATE INDEX runs_by_created ON runs (created_at, email_type, status);

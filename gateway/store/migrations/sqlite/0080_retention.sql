-- Retention: a message whose bytes were pruned keeps its row (its run and
-- items still name it) with content emptied and the time it was pruned.
ALTER TABLE messages ADD COLUMN pruned_at REAL;
-- A run that was final when it was recorded (dropped, rejected) now has a
-- finished_at too: the retention clocks count from it.
UPDATE runs SET finished_at = updated_at
    WHERE finished_at IS NULL AND status NOT IN ('queued', 'running', 'deferred');
-- What the pruner and the store's statistics walk.
CREATE INDEX runs_finished ON runs (finished_at);
CREATE INDEX messages_by_run ON messages (run_id);
CREATE INDEX messages_kept ON messages (queued_at) WHERE pruned_at IS NULL;
CREATE INDEX run_keys_by_run ON run_keys (run_id);
CREATE INDEX notices_by_run ON notices (run_id);
CREATE INDEX settings_audit_by_time ON settings_audit (at);

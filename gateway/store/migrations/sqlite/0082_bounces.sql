-- Delivery status notifications that came back to a message's return path:
-- each one received is kept, matched to its message or not, with what it said.
-- items.status may now be 'bounced': sent, then reported undeliverable.
CREATE TABLE bounce_reports (
    id           INTEGER PRIMARY KEY,
    received_at  REAL NOT NULL,
    message_id   TEXT,
    run_id       TEXT,
    matched      INTEGER NOT NULL,  -- recipients marked bounced by it
    detail       TEXT NOT NULL      -- JSON: what it reported, and why nothing matched
);
CREATE INDEX bounce_reports_by_run ON bounce_reports (run_id);
CREATE INDEX bounce_reports_by_time ON bounce_reports (received_at);

-- Every apply and rollback of a message definition is a new version of it;
-- the newest is in force, and each item of a run says which one built it.
CREATE TABLE definition_versions (
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    action      TEXT NOT NULL,  -- apply | rollback
    body        TEXT NOT NULL,  -- the validated JSON document
    actor       TEXT NOT NULL DEFAULT '',
    created_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, version)
);
ALTER TABLE definitions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
INSERT INTO definition_versions (name, version, action, body, actor, created_at)
    SELECT name, 1, 'apply', body, '', updated_at FROM definitions;

-- What each item of a definition run was sent as: the definition's version,
-- the subject as rendered, and the attachments' names and sizes (JSON).
ALTER TABLE items ADD COLUMN definition_version INTEGER;
ALTER TABLE items ADD COLUMN subject TEXT;
ALTER TABLE items ADD COLUMN attachments TEXT;

-- When each attempt to deliver an item was made: epoch seconds, comma-separated.
ALTER TABLE items ADD COLUMN attempted_at TEXT;

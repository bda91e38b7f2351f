-- Edited templates: every save, rollback and reset is a new version of its
-- email type. The newest version is in force; a reset (no parts) brings the
-- shipped default back.
CREATE TABLE template_versions (
    email_type  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    action      TEXT NOT NULL,  -- save | rollback | reset
    subject     TEXT,
    html        TEXT,
    text        TEXT,
    note        TEXT NOT NULL DEFAULT '',
    created_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (email_type, version)
);


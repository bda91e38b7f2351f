-- Settings an admin changes at run time (SMTP, delivery), one JSON object
-- per key; every process sharing the store reads them at each message.
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  REAL NOT NULL
);

-- Every change of a setting: who, when, the old and the new value (secrets
-- masked before they are written here).
CREATE TABLE settings_audit (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    actor       TEXT NOT NULL,
    setting     TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT
);

-- Logins for SMTP clients outside the allowed networks. The password is kept
-- only as a slow hash (scrypt); domains are space-separated allow-lists,
-- empty meaning any.
CREATE TABLE smtp_users (
    name               TEXT PRIMARY KEY,
    password_hash      TEXT NOT NULL,
    sender_domains     TEXT NOT NULL DEFAULT '',
    recipient_domains  TEXT NOT NULL DEFAULT '',
    created_at         REAL NOT NULL,
    updated_at         REAL NOT NULL
);

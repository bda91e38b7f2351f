-- People who sign in to the console. The role names a set of admin API
-- scopes (gateway.settings.users.ROLES); the password is an scrypt hash and
-- the TOTP secret, when set, is sealed with the settings key.
CREATE TABLE console_users (
    name           TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    totp_sealed    TEXT,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    disabled_at    REAL
);

-- Console sessions, kept in the store so that every node sharing it knows
-- them. Only the SHA-256 digest of the cookie's secret is kept; csrf is the
-- token every state-changing form of the session carries; flash holds the
-- messages the next page shows (JSON).
CREATE TABLE console_sessions (
    digest       TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,
    created_at   REAL NOT NULL,
    seen_at      REAL NOT NULL,
    flash        TEXT
);
CREATE INDEX console_sessions_user ON console_sessions (user_name);

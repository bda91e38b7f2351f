-- Admin API bearer tokens. Only the SHA-256 digest of each token is kept;
-- scopes are space separated.
CREATE TABLE admin_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    digest        TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    last_used_at  DOUBLE PRECISION,
    revoked_at    DOUBLE PRECISION
);


-- Users, organisations and API tokens. Passwords are argon2id hashes; tokens are kept
-- only as SHA-256 digests of high-entropy random strings.

CREATE TABLE organisations (
    org_id       TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    scope_kind   TEXT NOT NULL,
    scope_value  TEXT,
    created_at   TEXT NOT NULL
);

CREATE TABLE users (
    user_id            INTEGER PRIMARY KEY,
    username           TEXT NOT NULL UNIQUE,
    display_name       TEXT NOT NULL,
    password_hash      TEXT NOT NULL,
    role               TEXT NOT NULL,
    org_id             TEXT NOT NULL REFERENCES organisations (org_id),
    designated         INTEGER NOT NULL DEFAULT 0,
    training_expires   TEXT,
    totp_secret        TEXT,
    failed_logins      INTEGER NOT NULL DEFAULT 0,
    locked_until       TEXT,
    created_at         TEXT NOT NULL,
    deleted_at         TEXT
);

CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (user_id),
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    csrf_token   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

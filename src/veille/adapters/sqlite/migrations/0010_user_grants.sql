-- Grants of data access to accounts (four eyes): a request, then a second
-- administrator's decision. Rows are never deleted: they are the data-protection
-- officer's record of who gave whom access, and who agreed.

CREATE TABLE user_grants (
    grant_id           INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL,
    username           TEXT NOT NULL,
    user_id            INTEGER REFERENCES users (user_id),
    changes            TEXT NOT NULL,
    status             TEXT NOT NULL,
    requested_by       TEXT NOT NULL,
    requested_at       TEXT NOT NULL,
    request_reason     TEXT,
    decided_by         TEXT,
    decided_at         TEXT,
    decision_reason    TEXT,
    password_hash      TEXT
);
CREATE INDEX user_grants_status ON user_grants (status, grant_id);
CREATE INDEX user_grants_username ON user_grants (username, status);

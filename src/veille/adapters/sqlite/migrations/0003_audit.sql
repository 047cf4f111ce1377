-- Append-only, hash-chained audit log. The actor is copied into each record so that it
-- survives the deletion of the account.
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    actor_username TEXT NOT NULL,
    actor_role     TEXT NOT NULL,
    actor_user_id  INTEGER,
    actor_org_id   TEXT,
    actor_ip       TEXT,
    actor_agent    TEXT,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    target         TEXT,
    params         TEXT NOT NULL,
    result_count   INTEGER,
    purpose        TEXT,
    case_ref       TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_username, at);
CREATE INDEX audit_log_case ON audit_log (case_ref);
-- Append-only: the database itself refuses to change or remove a record.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Prosecutor authorizations for reads older than the open window, and case holds that
-- keep reads past the maximum retention. Lists are JSON arrays; an empty list means
-- "not restricted by this criterion" (at least one criterion is always set).
CREATE TABLE authorizations (
    auth_id            INTEGER PRIMARY KEY,
    case_ref           TEXT NOT NULL,
    purpose            TEXT NOT NULL,
    justification      TEXT NOT NULL,
    district           TEXT NOT NULL,
    requested_by       INTEGER NOT NULL,
    requested_by_name  TEXT NOT NULL,
    requested_at       TEXT NOT NULL,
    investigators      TEXT NOT NULL,
    plates             TEXT NOT NULL,
    camera_ids         TEXT NOT NULL,
    area               TEXT,
    period_start       TEXT NOT NULL,
    period_end         TEXT NOT NULL,
    hold_requested     INTEGER NOT NULL DEFAULT 0,
    status             TEXT NOT NULL,
    decided_by         INTEGER,
    decided_by_name    TEXT,
    decided_at         TEXT,
    decision_reasons   TEXT,
    conditions         TEXT,
    expires_at         TEXT
);
CREATE INDEX authorizations_status ON authorizations (status, district);
CREATE INDEX authorizations_case ON authorizations (case_ref);

CREATE TABLE case_holds (
    hold_id       INTEGER PRIMARY KEY,
    case_ref      TEXT NOT NULL,
    auth_id       INTEGER REFERENCES authorizations (auth_id),
    plates        TEXT NOT NULL,
    camera_ids    TEXT NOT NULL,
    period_start  TEXT NOT NULL,
    period_end    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    released_at   TEXT,
    released_by   TEXT
);
CREATE INDEX case_holds_active ON case_holds (released_at);

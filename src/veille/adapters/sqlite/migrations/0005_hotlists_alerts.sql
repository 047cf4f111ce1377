-- Hotlists and their entries, the change counter every process watches, alerts with their
-- hits and workflow events, and outside deliveries (webhooks).
CREATE TABLE hotlists (
    list_id           TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    category          TEXT NOT NULL,
    owner_org         TEXT NOT NULL,
    max_edits         INTEGER NOT NULL,
    lookalike         INTEGER NOT NULL,
    max_wildcards     INTEGER NOT NULL,
    default_priority  INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE TABLE hotlist_entries (
    list_id       TEXT NOT NULL REFERENCES hotlists (list_id),
    entry_id      TEXT NOT NULL,
    plate         TEXT NOT NULL,
    country       TEXT,
    priority      INTEGER NOT NULL,
    valid_from    TEXT,
    valid_until   TEXT,
    source_ref    TEXT NOT NULL,
    instructions  TEXT NOT NULL,
    covert        INTEGER NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (list_id, entry_id)
);
CREATE INDEX hotlist_entries_plate ON hotlist_entries (plate);

-- Bumped in the transaction of every hotlist change; each process polls it and rebuilds
-- the lists that changed.
CREATE TABLE hotlist_changes (
    change_id   INTEGER PRIMARY KEY,
    list_id     TEXT NOT NULL,
    changed_at  TEXT NOT NULL
);

CREATE TABLE alerts (
    alert_id       INTEGER PRIMARY KEY,
    opened_at      TEXT NOT NULL,
    last_hit_at    TEXT NOT NULL,
    status         TEXT NOT NULL,
    read_id        BLOB NOT NULL,
    camera_id      TEXT NOT NULL,
    zone           TEXT NOT NULL,
    province       TEXT NOT NULL,
    plate          TEXT NOT NULL,
    country        TEXT,
    list_id        TEXT NOT NULL,
    entry_id       TEXT NOT NULL,
    category       TEXT NOT NULL,
    priority       INTEGER NOT NULL,
    match_kind     TEXT NOT NULL,
    distance       INTEGER NOT NULL,
    covert         INTEGER NOT NULL,
    owner_org      TEXT NOT NULL,
    hit_count      INTEGER NOT NULL,
    entry          TEXT NOT NULL,
    decision       TEXT,
    reason         TEXT,
    outcome        TEXT,
    closed_at      TEXT
);
CREATE INDEX alerts_open ON alerts (status, entry_id, plate);
CREATE INDEX alerts_opened ON alerts (opened_at);
CREATE INDEX alerts_camera ON alerts (camera_id, opened_at);

CREATE TABLE alert_hits (
    alert_id     INTEGER NOT NULL REFERENCES alerts (alert_id),
    read_id      BLOB NOT NULL,
    camera_id    TEXT NOT NULL,
    captured_at  INTEGER NOT NULL,
    match_kind   TEXT NOT NULL,
    PRIMARY KEY (alert_id, read_id)
);

CREATE TABLE alert_events (
    event_id       INTEGER PRIMARY KEY,
    alert_id       INTEGER NOT NULL REFERENCES alerts (alert_id),
    at             TEXT NOT NULL,
    actor_username TEXT NOT NULL,
    actor_role     TEXT NOT NULL,
    actor_user_id  INTEGER,
    action         TEXT NOT NULL,
    reason         TEXT,
    outcome        TEXT,
    note           TEXT
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, event_id);

CREATE TABLE webhooks (
    webhook_id   INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    scope_kind   TEXT NOT NULL,
    scope_value  TEXT,
    active       INTEGER NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    delivery_id   INTEGER PRIMARY KEY,
    webhook_id    INTEGER NOT NULL REFERENCES webhooks (webhook_id),
    alert_id      INTEGER NOT NULL,
    event         TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    status        TEXT NOT NULL,
    http_status   INTEGER,
    error         TEXT,
    created_at    TEXT NOT NULL,
    delivered_at  TEXT
);
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, delivery_id);

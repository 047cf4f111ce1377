-- Foundation: cameras and their credentials, reads and their images, dead letters.
-- Portable SQL: the PostgreSQL adapter maps BLOB to BYTEA and INTEGER PRIMARY KEY to
-- an identity column; everything else is applied as written.

CREATE TABLE cameras (
    camera_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    heading     REAL,
    zone        TEXT NOT NULL,
    province    TEXT NOT NULL,
    vendor      TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    phase       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
);
CREATE INDEX cameras_zone ON cameras (zone);
CREATE INDEX cameras_province ON cameras (province);

-- One ingest credential per camera: only the SHA-256 of the token is kept.
CREATE TABLE camera_credentials (
    token_hash  TEXT PRIMARY KEY,
    camera_id   TEXT NOT NULL REFERENCES cameras (camera_id),
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX camera_credentials_camera ON camera_credentials (camera_id);

-- Times are microseconds since the Unix epoch, UTC: compact, fast to compare, portable.
CREATE TABLE reads (
    id              INTEGER PRIMARY KEY,
    read_id         BLOB NOT NULL UNIQUE,
    camera_id       TEXT NOT NULL,
    captured_at     INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    plate_raw       TEXT NOT NULL,
    plate           TEXT NOT NULL,
    plate_canonical TEXT NOT NULL,
    country         TEXT,
    confidence      REAL NOT NULL,
    direction       TEXT NOT NULL,
    lane            INTEGER,
    vehicle_make    TEXT,
    vehicle_colour  TEXT,
    vehicle_type    TEXT,
    details         TEXT
);
-- "plate over time", "look-alike plate over time", "camera over time", and the
-- retention sweep by capture time.
CREATE INDEX reads_plate_time ON reads (plate, captured_at);
CREATE INDEX reads_canonical_time ON reads (plate_canonical, captured_at);
CREATE INDEX reads_camera_time ON reads (camera_id, captured_at);
CREATE INDEX reads_captured ON reads (captured_at);

CREATE TABLE read_images (
    read_id       BLOB NOT NULL,
    position      INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    sha256        TEXT,
    size          INTEGER,
    uri           TEXT,
    PRIMARY KEY (read_id, position)
);
CREATE INDEX read_images_sha256 ON read_images (sha256);

-- Rejected payloads, kept for inspection and replay.
CREATE TABLE dead_letters (
    id             INTEGER PRIMARY KEY,
    received_at    TEXT NOT NULL,
    camera_id      TEXT,
    source         TEXT NOT NULL,
    payload        TEXT NOT NULL,
    errors         TEXT NOT NULL,
    status         TEXT NOT NULL,
    replayed_at    TEXT,
    replay_result  TEXT
);
CREATE INDEX dead_letters_status ON dead_letters (status, id);

-- Clone suspicions recorded by the standing clone sweep: one plate read at two places
-- too far apart for the time between the reads. Times of the reads are microseconds
-- since the Unix epoch, UTC, as in reads; a pair of reads is recorded once.
CREATE TABLE clone_findings (
    id                INTEGER PRIMARY KEY,
    plate             TEXT NOT NULL,
    first_read_id     BLOB NOT NULL,
    second_read_id    BLOB NOT NULL,
    first_camera_id   TEXT NOT NULL,
    second_camera_id  TEXT NOT NULL,
    first_at          INTEGER NOT NULL,
    second_at         INTEGER NOT NULL,
    distance_m        REAL NOT NULL,
    implied_kmh       REAL,
    found_at          TEXT NOT NULL,
    UNIQUE (first_read_id, second_read_id)
);
CREATE INDEX clone_findings_plate ON clone_findings (plate, first_at);
CREATE INDEX clone_findings_second_at ON clone_findings (second_at);

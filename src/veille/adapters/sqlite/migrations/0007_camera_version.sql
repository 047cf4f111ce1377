-- A counter bumped by every change to the cameras table, so that each process can keep
-- the camera directory in memory and reload it only when it changed.
CREATE TABLE camera_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO camera_version (id, version) VALUES (1, 0);
CREATE TRIGGER cameras_inserted AFTER INSERT ON cameras
BEGIN
    UPDATE camera_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER cameras_updated AFTER UPDATE ON cameras
BEGIN
    UPDATE camera_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER cameras_deleted AFTER DELETE ON cameras
BEGIN
    UPDATE camera_version SET version = version + 1 WHERE id = 1;
END;

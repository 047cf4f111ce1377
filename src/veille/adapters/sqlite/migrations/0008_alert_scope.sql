-- Alerts are grouped per police zone, and every hit records where and how late it was
-- seen, so no recipient is ever shown a read outside their scope.
ALTER TABLE alerts ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN age_s REAL;
ALTER TABLE alert_hits ADD COLUMN zone TEXT;
ALTER TABLE alert_hits ADD COLUMN province TEXT;
ALTER TABLE alert_hits ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_hits ADD COLUMN age_s REAL;

-- Hits stored before grouping was per zone may sit in another zone's alert: give each its
-- camera's place (or, for a camera since removed, its alert's) so it is shown only in scope.
UPDATE alert_hits SET
    zone = coalesce(
        (SELECT c.zone FROM cameras c WHERE c.camera_id = alert_hits.camera_id),
        (SELECT a.zone FROM alerts a WHERE a.alert_id = alert_hits.alert_id)
    ),
    province = coalesce(
        (SELECT c.province FROM cameras c WHERE c.camera_id = alert_hits.camera_id),
        (SELECT a.province FROM alerts a WHERE a.alert_id = alert_hits.alert_id)
    );

DROP INDEX alerts_open;
CREATE INDEX alerts_open ON alerts (status, entry_id, plate, zone, province);
CREATE INDEX alerts_zone ON alerts (zone, alert_id);
CREATE INDEX alerts_province ON alerts (province, alert_id);

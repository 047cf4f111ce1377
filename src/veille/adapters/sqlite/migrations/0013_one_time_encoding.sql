-- One time encoding throughout (decision 0009): every time column becomes INTEGER
-- microseconds since the Unix epoch, UTC, as reads, alert hits and clone findings already
-- were. ISO text compared as text orders wrongly once two offsets meet (12:30+01:00 sorts
-- after 12:00+00:00 though it is earlier), and a second backend could not tell which
-- columns mean what.
--
-- Each column is converted in place, so columns other changes add to these tables are
-- kept: add an INTEGER twin, fill it, drop the text column, give the twin its name.
-- Indexes over a converted column are dropped first and created again after. Existing
-- values convert exactly: veille_micros() (registered by database.migrate, see
-- adapters/sqlite/times.py from_iso_text) parses Python's ISO 8601 text with any offset
-- (none: UTC, the store's convention) to microseconds; NULL stays NULL.
--
-- NOT NULL columns keep NOT NULL; SQLite only adds such a column with a default, and
-- every writer gives the value, so the DEFAULT 0 is never used.

-- The audit chain hashes each record's `at` as its ISO text (domain/audit.py), which the
-- platform clock always wrote in UTC; converted to microseconds it reads back as the same
-- text, so every hash and seal verifies as before. A record dated with another offset (or
-- none) would no longer match its hash once converted: refuse rather than break the chain.
CREATE TEMP TABLE audit_times_checked (
    at TEXT CONSTRAINT every_audit_time_is_utc_iso_text CHECK (at LIKE '%+00:00')
);
INSERT INTO audit_times_checked (at) SELECT at FROM audit_log WHERE typeof(at) = 'text';
DROP TABLE audit_times_checked;

-- schema_migrations
ALTER TABLE schema_migrations ADD COLUMN applied_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE schema_migrations SET applied_at_us = veille_micros(applied_at);
ALTER TABLE schema_migrations DROP COLUMN applied_at;
ALTER TABLE schema_migrations RENAME COLUMN applied_at_us TO applied_at;

-- cameras
ALTER TABLE cameras ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE cameras SET created_at_us = veille_micros(created_at);
ALTER TABLE cameras DROP COLUMN created_at;
ALTER TABLE cameras RENAME COLUMN created_at_us TO created_at;
ALTER TABLE cameras ADD COLUMN retired_at_us INTEGER;
UPDATE cameras SET retired_at_us = veille_micros(retired_at);
ALTER TABLE cameras DROP COLUMN retired_at;
ALTER TABLE cameras RENAME COLUMN retired_at_us TO retired_at;

-- camera_credentials
ALTER TABLE camera_credentials ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE camera_credentials SET created_at_us = veille_micros(created_at);
ALTER TABLE camera_credentials DROP COLUMN created_at;
ALTER TABLE camera_credentials RENAME COLUMN created_at_us TO created_at;
ALTER TABLE camera_credentials ADD COLUMN revoked_at_us INTEGER;
UPDATE camera_credentials SET revoked_at_us = veille_micros(revoked_at);
ALTER TABLE camera_credentials DROP COLUMN revoked_at;
ALTER TABLE camera_credentials RENAME COLUMN revoked_at_us TO revoked_at;

-- dead_letters
ALTER TABLE dead_letters ADD COLUMN received_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE dead_letters SET received_at_us = veille_micros(received_at);
ALTER TABLE dead_letters DROP COLUMN received_at;
ALTER TABLE dead_letters RENAME COLUMN received_at_us TO received_at;
ALTER TABLE dead_letters ADD COLUMN replayed_at_us INTEGER;
UPDATE dead_letters SET replayed_at_us = veille_micros(replayed_at);
ALTER TABLE dead_letters DROP COLUMN replayed_at;
ALTER TABLE dead_letters RENAME COLUMN replayed_at_us TO replayed_at;

-- organisations
ALTER TABLE organisations ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE organisations SET created_at_us = veille_micros(created_at);
ALTER TABLE organisations DROP COLUMN created_at;
ALTER TABLE organisations RENAME COLUMN created_at_us TO created_at;

-- users
ALTER TABLE users ADD COLUMN training_expires_us INTEGER;
UPDATE users SET training_expires_us = veille_micros(training_expires);
ALTER TABLE users DROP COLUMN training_expires;
ALTER TABLE users RENAME COLUMN training_expires_us TO training_expires;
ALTER TABLE users ADD COLUMN locked_until_us INTEGER;
UPDATE users SET locked_until_us = veille_micros(locked_until);
ALTER TABLE users DROP COLUMN locked_until;
ALTER TABLE users RENAME COLUMN locked_until_us TO locked_until;
ALTER TABLE users ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE users SET created_at_us = veille_micros(created_at);
ALTER TABLE users DROP COLUMN created_at;
ALTER TABLE users RENAME COLUMN created_at_us TO created_at;
ALTER TABLE users ADD COLUMN deleted_at_us INTEGER;
UPDATE users SET deleted_at_us = veille_micros(deleted_at);
ALTER TABLE users DROP COLUMN deleted_at;
ALTER TABLE users RENAME COLUMN deleted_at_us TO deleted_at;

-- api_tokens
ALTER TABLE api_tokens ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE api_tokens SET created_at_us = veille_micros(created_at);
ALTER TABLE api_tokens DROP COLUMN created_at;
ALTER TABLE api_tokens RENAME COLUMN created_at_us TO created_at;
ALTER TABLE api_tokens ADD COLUMN expires_at_us INTEGER;
UPDATE api_tokens SET expires_at_us = veille_micros(expires_at);
ALTER TABLE api_tokens DROP COLUMN expires_at;
ALTER TABLE api_tokens RENAME COLUMN expires_at_us TO expires_at;
ALTER TABLE api_tokens ADD COLUMN revoked_at_us INTEGER;
UPDATE api_tokens SET revoked_at_us = veille_micros(revoked_at);
ALTER TABLE api_tokens DROP COLUMN revoked_at;
ALTER TABLE api_tokens RENAME COLUMN revoked_at_us TO revoked_at;

-- user_grants
ALTER TABLE user_grants ADD COLUMN requested_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE user_grants SET requested_at_us = veille_micros(requested_at);
ALTER TABLE user_grants DROP COLUMN requested_at;
ALTER TABLE user_grants RENAME COLUMN requested_at_us TO requested_at;
ALTER TABLE user_grants ADD COLUMN decided_at_us INTEGER;
UPDATE user_grants SET decided_at_us = veille_micros(decided_at);
ALTER TABLE user_grants DROP COLUMN decided_at;
ALTER TABLE user_grants RENAME COLUMN decided_at_us TO decided_at;

-- authorizations
ALTER TABLE authorizations ADD COLUMN requested_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE authorizations SET requested_at_us = veille_micros(requested_at);
ALTER TABLE authorizations DROP COLUMN requested_at;
ALTER TABLE authorizations RENAME COLUMN requested_at_us TO requested_at;
ALTER TABLE authorizations ADD COLUMN period_start_us INTEGER NOT NULL DEFAULT 0;
UPDATE authorizations SET period_start_us = veille_micros(period_start);
ALTER TABLE authorizations DROP COLUMN period_start;
ALTER TABLE authorizations RENAME COLUMN period_start_us TO period_start;
ALTER TABLE authorizations ADD COLUMN period_end_us INTEGER NOT NULL DEFAULT 0;
UPDATE authorizations SET period_end_us = veille_micros(period_end);
ALTER TABLE authorizations DROP COLUMN period_end;
ALTER TABLE authorizations RENAME COLUMN period_end_us TO period_end;
ALTER TABLE authorizations ADD COLUMN decided_at_us INTEGER;
UPDATE authorizations SET decided_at_us = veille_micros(decided_at);
ALTER TABLE authorizations DROP COLUMN decided_at;
ALTER TABLE authorizations RENAME COLUMN decided_at_us TO decided_at;
ALTER TABLE authorizations ADD COLUMN expires_at_us INTEGER;
UPDATE authorizations SET expires_at_us = veille_micros(expires_at);
ALTER TABLE authorizations DROP COLUMN expires_at;
ALTER TABLE authorizations RENAME COLUMN expires_at_us TO expires_at;

-- each district's approval keeps its two times in the approvals JSON: the same encoding
UPDATE authorizations SET approvals = (
    SELECT json_group_array(json_set(value,
        '$.at', veille_micros(json_extract(value, '$.at')),
        '$.expires_at', veille_micros(json_extract(value, '$.expires_at'))))
    FROM json_each(authorizations.approvals)
) WHERE approvals <> '[]';

-- case_holds
DROP INDEX case_holds_active;
ALTER TABLE case_holds ADD COLUMN period_start_us INTEGER NOT NULL DEFAULT 0;
UPDATE case_holds SET period_start_us = veille_micros(period_start);
ALTER TABLE case_holds DROP COLUMN period_start;
ALTER TABLE case_holds RENAME COLUMN period_start_us TO period_start;
ALTER TABLE case_holds ADD COLUMN period_end_us INTEGER NOT NULL DEFAULT 0;
UPDATE case_holds SET period_end_us = veille_micros(period_end);
ALTER TABLE case_holds DROP COLUMN period_end;
ALTER TABLE case_holds RENAME COLUMN period_end_us TO period_end;
ALTER TABLE case_holds ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE case_holds SET created_at_us = veille_micros(created_at);
ALTER TABLE case_holds DROP COLUMN created_at;
ALTER TABLE case_holds RENAME COLUMN created_at_us TO created_at;
ALTER TABLE case_holds ADD COLUMN released_at_us INTEGER;
UPDATE case_holds SET released_at_us = veille_micros(released_at);
ALTER TABLE case_holds DROP COLUMN released_at;
ALTER TABLE case_holds RENAME COLUMN released_at_us TO released_at;
CREATE INDEX case_holds_active ON case_holds (released_at);

-- hotlists
ALTER TABLE hotlists ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE hotlists SET created_at_us = veille_micros(created_at);
ALTER TABLE hotlists DROP COLUMN created_at;
ALTER TABLE hotlists RENAME COLUMN created_at_us TO created_at;
ALTER TABLE hotlists ADD COLUMN updated_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE hotlists SET updated_at_us = veille_micros(updated_at);
ALTER TABLE hotlists DROP COLUMN updated_at;
ALTER TABLE hotlists RENAME COLUMN updated_at_us TO updated_at;

-- hotlist_entries
ALTER TABLE hotlist_entries ADD COLUMN valid_from_us INTEGER;
UPDATE hotlist_entries SET valid_from_us = veille_micros(valid_from);
ALTER TABLE hotlist_entries DROP COLUMN valid_from;
ALTER TABLE hotlist_entries RENAME COLUMN valid_from_us TO valid_from;
ALTER TABLE hotlist_entries ADD COLUMN valid_until_us INTEGER;
UPDATE hotlist_entries SET valid_until_us = veille_micros(valid_until);
ALTER TABLE hotlist_entries DROP COLUMN valid_until;
ALTER TABLE hotlist_entries RENAME COLUMN valid_until_us TO valid_until;
ALTER TABLE hotlist_entries ADD COLUMN updated_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE hotlist_entries SET updated_at_us = veille_micros(updated_at);
ALTER TABLE hotlist_entries DROP COLUMN updated_at;
ALTER TABLE hotlist_entries RENAME COLUMN updated_at_us TO updated_at;

-- hotlist_changes
ALTER TABLE hotlist_changes ADD COLUMN changed_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE hotlist_changes SET changed_at_us = veille_micros(changed_at);
ALTER TABLE hotlist_changes DROP COLUMN changed_at;
ALTER TABLE hotlist_changes RENAME COLUMN changed_at_us TO changed_at;

-- alerts
DROP INDEX alerts_opened;
DROP INDEX alerts_camera;
ALTER TABLE alerts ADD COLUMN opened_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET opened_at_us = veille_micros(opened_at);
ALTER TABLE alerts DROP COLUMN opened_at;
ALTER TABLE alerts RENAME COLUMN opened_at_us TO opened_at;
ALTER TABLE alerts ADD COLUMN last_hit_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET last_hit_at_us = veille_micros(last_hit_at);
ALTER TABLE alerts DROP COLUMN last_hit_at;
ALTER TABLE alerts RENAME COLUMN last_hit_at_us TO last_hit_at;
ALTER TABLE alerts ADD COLUMN closed_at_us INTEGER;
UPDATE alerts SET closed_at_us = veille_micros(closed_at);
ALTER TABLE alerts DROP COLUMN closed_at;
ALTER TABLE alerts RENAME COLUMN closed_at_us TO closed_at;
CREATE INDEX alerts_opened ON alerts (opened_at);
CREATE INDEX alerts_camera ON alerts (camera_id, opened_at);

-- alert_events
ALTER TABLE alert_events ADD COLUMN at_us INTEGER NOT NULL DEFAULT 0;
UPDATE alert_events SET at_us = veille_micros(at);
ALTER TABLE alert_events DROP COLUMN at;
ALTER TABLE alert_events RENAME COLUMN at_us TO at;

-- webhooks
ALTER TABLE webhooks ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE webhooks SET created_at_us = veille_micros(created_at);
ALTER TABLE webhooks DROP COLUMN created_at;
ALTER TABLE webhooks RENAME COLUMN created_at_us TO created_at;

-- webhook_deliveries
ALTER TABLE webhook_deliveries ADD COLUMN created_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE webhook_deliveries SET created_at_us = veille_micros(created_at);
ALTER TABLE webhook_deliveries DROP COLUMN created_at;
ALTER TABLE webhook_deliveries RENAME COLUMN created_at_us TO created_at;
ALTER TABLE webhook_deliveries ADD COLUMN delivered_at_us INTEGER;
UPDATE webhook_deliveries SET delivered_at_us = veille_micros(delivered_at);
ALTER TABLE webhook_deliveries DROP COLUMN delivered_at;
ALTER TABLE webhook_deliveries RENAME COLUMN delivered_at_us TO delivered_at;

-- clone_findings
ALTER TABLE clone_findings ADD COLUMN found_at_us INTEGER NOT NULL DEFAULT 0;
UPDATE clone_findings SET found_at_us = veille_micros(found_at);
ALTER TABLE clone_findings DROP COLUMN found_at;
ALTER TABLE clone_findings RENAME COLUMN found_at_us TO found_at;

-- audit_log: the append-only triggers refuse the UPDATE that fills the twin; they are
-- dropped and created again inside this one transaction, which holds the write lock.
DROP TRIGGER audit_log_no_update;
DROP TRIGGER audit_log_no_delete;
DROP INDEX audit_log_at;
DROP INDEX audit_log_actor;
ALTER TABLE audit_log ADD COLUMN at_us INTEGER NOT NULL DEFAULT 0;
UPDATE audit_log SET at_us = veille_micros(at);
ALTER TABLE audit_log DROP COLUMN at;
ALTER TABLE audit_log RENAME COLUMN at_us TO at;
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_username, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

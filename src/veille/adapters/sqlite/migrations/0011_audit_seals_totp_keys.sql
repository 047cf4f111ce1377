-- Each audit record carries a seal: HMAC-SHA256 of its chain hash under a key derived from
-- the audit signing key, which lives in a key file and never in this database. A record
-- written straight into the file (a forgery with a valid chain hash) has no valid seal, so
-- the checkpoint writer refuses to sign a chain head that covers it. Records written before
-- this migration keep a NULL seal; the first signed checkpoint vouches for them.
--
-- TOTP secrets are encrypted from now on (AES-256-GCM, key file VEILLE_TOTP_KEY_PATH). SQL
-- cannot encrypt, so SqliteStore.initialise seals any plain-text secret left by an earlier
-- version right after the migrations, as soon as the key is available.
ALTER TABLE audit_log ADD COLUMN seal TEXT;

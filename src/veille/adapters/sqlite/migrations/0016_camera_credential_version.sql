-- A credential issued, revoked or removed moves the camera version too, so that each
-- process can trust a verified camera token until the version moves (the credential cache
-- of the ingest route), and a token revoked from another process stops working at the
-- cache's next check of the version.
CREATE TRIGGER camera_credentials_inserted AFTER INSERT ON camera_credentials
BEGIN
    UPDATE camera_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER camera_credentials_updated AFTER UPDATE ON camera_credentials
BEGIN
    UPDATE camera_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER camera_credentials_deleted AFTER DELETE ON camera_credentials
BEGIN
    UPDATE camera_version SET version = version + 1 WHERE id = 1;
END;

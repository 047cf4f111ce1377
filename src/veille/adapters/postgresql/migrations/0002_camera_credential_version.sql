-- A credential issued, revoked or removed moves the camera version too (as SQLite's
-- migration 0016): each process trusts a verified camera token until the version moves.
CREATE TRIGGER camera_credentials_changed AFTER INSERT OR UPDATE OR DELETE ON camera_credentials
    FOR EACH ROW EXECUTE FUNCTION bump_camera_version();

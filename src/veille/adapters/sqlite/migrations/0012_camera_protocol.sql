-- A camera's protocol now chooses the decoder of what it posts (decision 0008). Until
-- now it was a free label taken from the import file, and every camera that posted sent
-- Veille's native JSON, the only format read. A label that names no decoder of this
-- release would now make the camera's reads undecodable, so it becomes the native
-- protocol, which is what those cameras spoke; the vendor column keeps the make. When
-- the vendor's own adapter ships, the camera is switched to it by an import.
UPDATE cameras SET protocol = 'veille-json' WHERE protocol <> 'veille-json';

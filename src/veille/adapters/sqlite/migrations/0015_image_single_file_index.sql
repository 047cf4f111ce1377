-- The sha256 index of read_images served one question: does any read still refer to
-- this image file (retention and the orphan sweep, before deleting a single file)? Images
-- in the image log (migration 0014) go with their segment, and a uri has no file, so only
-- the rows of single files need the index; ingest no longer maintains it for every image
-- row (decision 0010: a fifth of the writer's time went to the image rows).
DROP INDEX IF EXISTS read_images_sha256;
CREATE INDEX read_images_single_file ON read_images (sha256)
    WHERE segment IS NULL AND sha256 IS NOT NULL;

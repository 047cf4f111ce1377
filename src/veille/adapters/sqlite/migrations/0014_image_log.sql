-- Image bytes in an append-only log of segment files, made durable once per group commit
-- (decision 0010) instead of one file and one fsync per image. Each image row says where
-- its bytes are: a segment of the log and the byte offset of the image's record there;
-- NULL for a uri reference and for images written as single files by earlier versions
-- (those stay in the content-addressed folder and are served from it).
ALTER TABLE read_images ADD COLUMN segment INTEGER;
ALTER TABLE read_images ADD COLUMN byte_offset INTEGER;

-- One row per segment a committed read refers to; `live` counts the image rows that
-- still point into it, kept in step by the same transactions that add and delete them.
-- A segment no writer appends to any more whose count is 0 is deleted whole by the
-- retention job (or never got a row: its group's commit failed).
CREATE TABLE image_segments (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE,
    live  INTEGER NOT NULL DEFAULT 0
);

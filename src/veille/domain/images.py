"""What an image's bytes say it is: the media type from its magic bytes, not a declaration."""

from __future__ import annotations

# The formats cameras may send (domain.reads.IMAGE_TYPES), by their file signatures.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"WEBP", 8, "image/webp"),  # after "RIFF" and the chunk size
)
UNKNOWN = "application/octet-stream"


def sniff_image_type(data: bytes) -> str:
    """The media type the bytes carry (JPEG, PNG, WebP), else application/octet-stream.

    Served images are labelled by what they are: a camera's declared `content_type` is
    only what it claimed, and a browser must never be told that unknown bytes are a JPEG.
    """
    for magic, offset, media_type in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if media_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return media_type
    return UNKNOWN

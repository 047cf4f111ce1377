"""Real JPEG images for the load generator: a pool rendered once, a few bytes varied per read.

Each read carries a ~3 KB plate crop and a ~25 KB overview. Encoding JPEGs per read would
cost more CPU than the server's work, so a pool of distinct images is rendered and encoded
at start (quality tuned to land near the target size), and every read gets its own copy
with a JPEG comment (COM) segment holding the read's serial number, placed right after the
JFIF header: a valid JPEG with its own sha256. The header up to the end of that segment is
a multiple of 3 bytes long, so the base64 of the rest of the file is computed once per
pool image and each read pays only a 42-byte base64, a sha256 and one concatenation.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import struct
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

PLATE_BYTES = 3 * 1024
OVERVIEW_BYTES = 25 * 1024
PLATE_SIZE = (260, 64)
OVERVIEW_SIZE = (480, 320)
_COMMENT_PAYLOAD = 18  # bytes of the per-read comment: 2 + 2 + 2 + 18 + the 18-byte JFIF APP0

_SOI = b"\xff\xd8"
_COM = b"\xff\xfe"


@dataclass(frozen=True, slots=True)
class JpegTemplate:
    """One pool image split where the per-read comment goes."""

    head: bytes  # SOI and the APP0 (JFIF) segment
    tail: bytes  # everything after: tables, frame, scan, EOI
    tail_b64: bytes  # base64 of `tail`, valid to append because head + comment is 3n bytes

    @classmethod
    def from_jpeg(cls, data: bytes) -> JpegTemplate:
        if not data.startswith(_SOI):
            raise ValueError("not a JPEG")
        split = 2
        if data[2:4] == b"\xff\xe0":  # APP0 first, as JFIF requires: keep it first
            (length,) = struct.unpack(">H", data[4:6])
            split = 4 + length
        head, tail = data[:split], data[split:]
        if (len(head) + 4 + _COMMENT_PAYLOAD) % 3:
            # pad the comment of this template instead: keep the alignment invariant
            raise ValueError(f"unexpected JFIF header length {len(head)}")
        return cls(head=head, tail=tail, tail_b64=base64.b64encode(tail))

    def variant(self, serial: bytes) -> tuple[bytes, bytes]:
        """(jpeg bytes, their base64) with `serial` (at most 18 bytes) in a comment."""
        payload = serial.ljust(_COMMENT_PAYLOAD, b" ")[:_COMMENT_PAYLOAD]
        prefix = self.head + _COM + struct.pack(">H", 2 + _COMMENT_PAYLOAD) + payload
        return prefix + self.tail, base64.b64encode(prefix) + self.tail_b64

    @property
    def size(self) -> int:
        return len(self.head) + 4 + _COMMENT_PAYLOAD + len(self.tail)


def _encode(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue()


def _tuned(image: Image.Image, target: int, *, lo: int = 5, hi: int = 95) -> bytes:
    """The JPEG of `image` whose size is closest to `target` (bisection on the quality)."""
    best = _encode(image, (lo + hi) // 2)
    while lo <= hi:
        quality = (lo + hi) // 2
        data = _encode(image, quality)
        if abs(len(data) - target) < abs(len(best) - target):
            best = data
        if len(data) > target:
            hi = quality - 1
        else:
            lo = quality + 1
    return best


def render_plate(rng: random.Random, text: str) -> Image.Image:
    """A plate crop: a light plate with dark characters, a frame, glare and sensor noise."""
    width, height = PLATE_SIZE
    base = rng.randint(200, 245)
    image = Image.new("RGB", PLATE_SIZE, (base, base, base - rng.randint(0, 40)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((3, 3, width - 4, height - 4), outline=(20, 20, 120), width=3)
    draw.rectangle((6, 6, 22, height - 7), fill=(10, 40, 160))  # the blue EU band
    ink = (rng.randint(0, 60), rng.randint(0, 30), rng.randint(20, 90))
    x = 32
    for ch in text:
        draw.text((x, 14), ch, fill=ink, font_size=34)
        x += 23 + rng.randint(-2, 2)
    noise = Image.effect_noise(PLATE_SIZE, rng.uniform(18, 30)).convert("RGB")
    image = Image.blend(image, noise, 0.18).filter(ImageFilter.GaussianBlur(0.6))
    return image.rotate(rng.uniform(-3, 3), resample=Image.Resampling.BILINEAR, fillcolor=ink)


def render_overview(rng: random.Random) -> Image.Image:
    """A road scene: sky and asphalt gradients, a few vehicle-like boxes, noise."""
    width, height = OVERVIEW_SIZE
    image = Image.linear_gradient("L").resize(OVERVIEW_SIZE).convert("RGB")
    draw = ImageDraw.Draw(image)
    horizon = rng.randint(height // 4, height // 2)
    draw.rectangle((0, horizon, width, height), fill=(70, 72, 75))
    for lane in range(1, 4):
        x = lane * width // 4 + rng.randint(-10, 10)
        draw.line((x, horizon, x + (lane - 2) * 80, height), fill=(230, 230, 230), width=3)
    for _ in range(rng.randint(2, 6)):
        w, h = rng.randint(60, 150), rng.randint(40, 90)
        x0, y0 = rng.randint(0, width - w), rng.randint(horizon, height - h)
        colour = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        draw.rounded_rectangle((x0, y0, x0 + w, y0 + h), radius=8, fill=colour)
        draw.rectangle((x0 + w // 4, y0 + h - 14, x0 + 3 * w // 4, y0 + h - 4), fill="white")
    noise = Image.effect_noise(OVERVIEW_SIZE, rng.uniform(30, 50)).convert("RGB")
    return Image.blend(image, noise, rng.uniform(0.12, 0.2))


class ImagePool:
    """`size` distinct plate crops and overviews; `images_for(n)` varies them per read."""

    def __init__(self, *, size: int, seed: int, worker: int = 0):
        if size < 1:
            raise ValueError("the image pool needs at least one image of each kind")
        rng = random.Random(f"veille-loadgen-images:{seed}:{worker}")
        self.worker = worker
        self.plates: list[JpegTemplate] = []
        self.overviews: list[JpegTemplate] = []
        for _ in range(size):
            text = "".join(rng.choice("ABCDEFGHJKLMNPRSTVXZ0123456789") for _ in range(7))
            self.plates.append(JpegTemplate.from_jpeg(_tuned(render_plate(rng, text), 2950)))
            self.overviews.append(JpegTemplate.from_jpeg(_tuned(render_overview(rng), 25_500)))

    def images_for(self, serial: int) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
        """((plate jpeg, its base64), (overview jpeg, its base64)) for read number `serial`;
        distinct serials give distinct bytes (distinct sha256s)."""
        tag = b"%x:%x" % (self.worker, serial)
        n = len(self.plates)
        plate = self.plates[serial % n].variant(b"p" + tag)
        overview = self.overviews[(serial // n + serial) % n].variant(b"o" + tag)
        return plate, overview


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

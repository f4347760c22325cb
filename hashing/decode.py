"""Decode untrusted image bytes into RGB pixels, safely and the same way every time.

The decoding pipeline is part of the fingerprint: two decoders that differ by one
pixel value drift a PDQ hash by a few bits. The steps below are pinned and named
:data:`PIPELINE`; any change to them must bump its version.

``empreinte-image-v1``:

1. Refuse more than ``max_bytes`` before touching a decoder.
2. Sniff the format from the bytes (never the file name). Read JPEG, PNG, WebP,
   GIF, BMP, TIFF, and HEIC/HEIF (through pillow-heif).
3. Refuse more than ``max_pixels`` from the header, before decoding (bombs).
4. Take the first frame of animated images.
5. Apply the EXIF orientation tag, so the pixels are upright as a phone shows them.
6. Convert to 8-bit RGB with Pillow's ``convert("RGB")``, the recipe of the PDQ
   reference binding. Two exceptions, where Pillow would clip instead of scale:
   16-bit and 32-bit integer modes are scaled from their full range to 0–255, and
   float modes from 0–1 when all values are in that range. Alpha is dropped, as
   in the reference recipe.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from empreinte.errors import ImageTooLarge, UnsupportedImage

PIPELINE: Final = "empreinte-image-v1"

DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
DEFAULT_MAX_PIXELS: Final = 100_000_000

FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF")

_MEDIA_TYPES: Final = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "HEIF": "image/heif",
}

_pillow_ready = False


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what a decoder may be asked to do."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """Upright 8-bit RGB pixels and what was learned on the way."""

    rgb: np.ndarray
    media_type: str
    source_mode: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _prepare_pillow() -> None:
    """Register the HEIF opener, and hand the pixel limit from Pillow to :class:`Limits`.

    Pillow's own bomb check is global and reports no dimensions; Empreinte checks
    every image against the caller's limit, with a reason that names the size.
    """
    global _pillow_ready
    if not _pillow_ready:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        Image.MAX_IMAGE_PIXELS = None
        _pillow_ready = True


def open_image(data: bytes, limits: Limits = Limits()) -> Image.Image:
    """Open ``data`` lazily and check it against ``limits``; raise :class:`ImageError`."""
    if len(data) == 0:
        raise UnsupportedImage("empty file (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"file is {len(data):,} bytes, over the limit of {limits.max_bytes:,} bytes"
        )
    _prepare_pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError as exc:
        raise UnsupportedImage("not an image, or a format Empreinte does not read") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"image dimensions are too large ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnsupportedImage(f"corrupt image header ({exc})") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise UnsupportedImage(f"image has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {width * height:,} pixels, "
            f"over the limit of {limits.max_pixels:,} (possible decompression bomb)"
        )
    return image


def decode(data: bytes, limits: Limits = Limits()) -> DecodedImage:
    """Decode ``data`` with the pinned pipeline into upright RGB pixels.

    Raises :class:`~empreinte.errors.ImageError` with a human reason for
    anything that is not a readable image within ``limits``.
    """
    image = open_image(data, limits)
    fmt = image.format or ""
    mode = image.mode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.seek(0)
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            rgb = to_rgb(upright)
    except (Image.DecompressionBombError, MemoryError) as exc:
        raise ImageTooLarge(f"image is too large to decode ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError) as exc:
        raise UnsupportedImage(f"corrupt or truncated image data ({exc})") from exc
    return DecodedImage(
        rgb=rgb, media_type=_MEDIA_TYPES.get(fmt, "image/unknown"), source_mode=mode
    )


def to_rgb(image: Image.Image) -> np.ndarray:
    """Convert a loaded image of any mode to a C-contiguous ``HxWx3`` uint8 array."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        wide = np.asarray(image, dtype=np.int64)
        top = 65535 if mode.startswith("I;16") or wide.max(initial=0) <= 65535 else 2**31 - 1
        gray = np.clip(wide, 0, top) * 255 // top
        return _gray_to_rgb(gray.astype(np.uint8))
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            values = values * 255.0
        return _gray_to_rgb(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))

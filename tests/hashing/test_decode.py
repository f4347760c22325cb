"""Safe decoding: every format and mode we promise, bombs and garbage refused with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from empreinte.errors import ImageError, ImageTooLarge, UnsupportedImage
from empreinte.hashing.decode import Limits, decode, to_rgb
from tests.conftest import encode, photo, png_bomb


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_decodes_each_format(fmt: str, media_type: str) -> None:
    decoded = decode(encode(photo(1), fmt))
    assert decoded.media_type == media_type
    assert decoded.rgb.shape == (240, 320, 3)
    assert decoded.rgb.dtype == np.uint8
    assert decoded.rgb.flags["C_CONTIGUOUS"]


def test_decodes_heic() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    try:
        data = encode(photo(2), "HEIF", quality=90)
    except (KeyError, OSError) as exc:
        pytest.skip(f"this libheif cannot encode HEIF: {exc}")
    decoded = decode(data)
    assert decoded.media_type == "image/heif"
    assert decoded.rgb.shape == (240, 320, 3)


def test_animated_gif_takes_first_frame() -> None:
    first = photo(3).convert("P")
    second = Image.new("P", first.size, 0)
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    decoded = decode(data)
    assert decoded.rgb.std() > 10, "the first frame is textured, the second is flat"


def test_modes_without_a_file_format_become_rgb() -> None:
    sources = {
        "PA": photo(4).convert("P").convert("PA"),
        "I;16": _gray16(),
        "YCbCr": photo(4).convert("YCbCr"),
        "HSV": photo(4).convert("HSV"),
    }
    for mode, image in sources.items():
        assert image.mode == mode
        rgb = to_rgb(image)
        assert rgb.shape[2] == 3, mode
        assert rgb.dtype == np.uint8, mode


def _gray16() -> Image.Image:
    return Image.fromarray((np.arange(64 * 64, dtype=np.uint16) * 16).reshape(64, 64))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "CMYK", "I", "F", "RGB"])
def test_every_mode_becomes_rgb(mode: str) -> None:
    image = photo(4).convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "I", "F") else "PNG"
    decoded = decode(encode(image, fmt))
    assert decoded.source_mode == mode
    assert decoded.rgb.shape == (240, 320, 3)


def test_sixteen_bit_is_scaled_not_clipped() -> None:
    ramp = (np.arange(256 * 64, dtype=np.uint32).reshape(64, 256) * 4).astype(np.uint16)
    decoded = decode(encode(Image.fromarray(ramp), "TIFF"))
    assert decoded.source_mode.startswith("I;16")
    gray = decoded.rgb[:, :, 0]
    assert gray.min() == 0
    assert 240 <= gray.max() <= 255
    assert len(np.unique(gray)) > 200, "Pillow's own convert would clip most values to 255"


def test_exif_orientation_is_applied() -> None:
    image = photo(5, (320, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    decoded = decode(encode(image, "JPEG", exif=exif))
    assert decoded.rgb.shape == (320, 240, 3)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\x00" * 100, "not an image"),
        (np.random.default_rng(0).bytes(5000), "not an image"),
        (b"<html><body>hello</body></html>", "not an image"),
    ],
)
def test_garbage_is_refused_with_a_reason(data: bytes, words: str) -> None:
    with pytest.raises(UnsupportedImage) as info:
        decode(data)
    assert words in info.value.reason


def test_truncated_jpeg_is_refused() -> None:
    data = encode(photo(6, (800, 600)), "JPEG")
    with pytest.raises(UnsupportedImage) as info:
        decode(data[: len(data) // 2])
    assert "truncated" in info.value.reason or "corrupt" in info.value.reason


def test_truncated_png_is_refused() -> None:
    data = encode(photo(6), "PNG")
    with pytest.raises(ImageError):
        decode(data[: len(data) // 3])


def test_png_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge) as info:
        decode(png_bomb())
    assert "30000x30000" in info.value.reason


def test_byte_limit() -> None:
    data = encode(photo(7), "PNG")
    with pytest.raises(ImageTooLarge):
        decode(data, Limits(max_bytes=len(data) - 1))
    assert decode(data, Limits(max_bytes=len(data))).width == 320


def test_pixel_limit() -> None:
    data = encode(photo(7), "PNG")
    with pytest.raises(ImageTooLarge):
        decode(data, Limits(max_pixels=320 * 240 - 1))

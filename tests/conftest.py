"""Fixtures shared by the whole suite: evaluation data, and images made on the fly."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EVALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "evaldata"


@pytest.fixture(scope="session")
def evaldata() -> Path:
    """The shared evaluation images; the tests that need them skip when absent."""
    if not EVALDATA.is_dir():
        pytest.skip(f"evaluation data not found at {EVALDATA}")
    return EVALDATA


def photo(seed: int = 0, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """Draw a textured RGB test picture with enough detail for a high PDQ quality."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.005, 0.05), rng.uniform(0.005, 0.05), rng.uniform(0, 6)
        wave = np.sin(xx * fx * 6.28 + phase) * np.cos(yy * fy * 6.28)
        channels.append(128 + 90 * wave + rng.normal(0, 12, (height, width)))
    pixels = np.clip(np.stack(channels, axis=2), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """Return a small PNG whose header claims ``width`` x ``height`` 1-bit pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(
        b"IEND", b""
    )

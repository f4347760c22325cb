"""Fixtures shared by the whole suite: evaluation data, and images made on the fly."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

EVALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "evaldata"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """One Playwright driver per test module: its sync API allows one at a time, and it runs
    an event loop in this thread until stopped, which later ``asyncio.run`` calls refuse."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def evaldata() -> Path:
    """The shared evaluation images; the tests that need them skip when absent."""
    if not EVALDATA.is_dir():
        pytest.skip(f"evaluation data not found at {EVALDATA}")
    return EVALDATA


def photo(seed: int = 0, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """Draw a photo-like RGB picture: smooth shapes at several scales, edges, light grain.

    Its PDQ quality is high and its hash is stable under re-encoding and resizing,
    like a natural photo's.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    layers = np.zeros((height, width, 3))
    for cells, weight in ((3, 1.0), (6, 0.6), (12, 0.35)):
        coarse = rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)
        smooth = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)
        layers += weight * np.asarray(smooth, dtype=np.float64)
    layers = layers / 1.95
    image = Image.fromarray(np.clip(layers, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.2) * min(size)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    grain = rng.normal(0, 3, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + grain, 0, 255).astype(np.uint8)
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
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )

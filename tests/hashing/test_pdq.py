"""Bit-exactness of ``empreinte.hashing.pdq`` against the PDQ reference.

Golden data: ``shared/evaldata/threatexchange_pdq/pdq_golden_pdqhash0.2.8_pillow13.csv``
(pdqhash 0.2.8 on ``numpy.asarray(Image.open(path).convert('RGB'))``, no EXIF
transpose; paths relative to the CSV's folder).  Random images are compared
with ``pdqhash`` itself (a dev dependency) when it is importable.

``pdqhash.compute`` returns ``hash_to_vector(Hash256.w)``: element ``m`` is the
reference's bit ``255 - m`` (bit ``k`` is bit ``k & 15`` of word ``k >> 4``;
the vector is built for k = 0..255 and then reversed).  So the vector is the
256-bit big-endian value MSB first, and ``np.packbits(vector)`` is exactly our
32-byte hash (see ``_ref_bytes``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from empreinte.hashing.pdq import (
    MIN_HASHABLE_DIM,
    pdq_dihedral_from_rgb,
    pdq_from_hex,
    pdq_from_rgb,
    pdq_hex,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "evaldata" / "threatexchange_pdq"
GOLDEN = DATA / "pdq_golden_pdqhash0.2.8_pillow13.csv"
DIHEDRAL_SAMPLES = (
    "pdq/data/reg-test-input/dih/bridge-1-original.jpg",
    "pdq/data/reg-test-input/dih/bridge-2-rotate-90.jpg",
    "pdq/data/bridge-mods/square-128x128.jpg",
    "pdq/data/misc-images/wee.jpg",
    "pdq/data/misc-images/small.jpg",
    "pdq/data/reg-test-input/labelme-subset/q0003.jpg",
    "pdq/data/reg-test-input/pen-and-coaster.png",
)


@dataclass(frozen=True)
class GoldenRow:
    hex: str
    quality: int
    path: str


def _golden_rows() -> list[GoldenRow]:
    if not GOLDEN.is_file():
        pytest.skip(f"golden data absent: {GOLDEN}")
    with GOLDEN.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    # columns: pdq_hex, quality, PIL_mode, WxH, path
    return [GoldenRow(r[0], int(r[1]), r[4]) for r in rows]


def _load(rel: str) -> np.ndarray:
    with Image.open(DATA / rel) as im:
        return np.asarray(im.convert("RGB"))


def _pdqhash() -> Any:
    return pytest.importorskip("pdqhash")


def _ref_bytes(vector: np.ndarray) -> bytes:
    """pdqhash's bit vector (reference bit 255 first) as our 32 bytes."""
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes()


def _noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _smooth(h: int, w: int, seed: int) -> np.ndarray:
    """A random walk along rows: natural-image-like, many near-median DCT values."""
    steps = np.random.default_rng(seed).integers(-3, 4, (h, w, 3))
    return np.clip(128 + np.cumsum(steps, axis=1), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------- golden
def test_golden_all_exact() -> None:
    rows = _golden_rows()
    failures = []
    for row in rows:
        h, quality = pdq_from_rgb(_load(row.path))
        bits = bin(int.from_bytes(h, "big") ^ int(row.hex, 16)).count("1")
        if bits or quality != row.quality:
            failures.append(f"{row.path}: {bits} bits differ, quality {quality} vs {row.quality}")
    print(f"\nPDQ golden: {len(rows) - len(failures)}/{len(rows)} exact")
    assert rows
    assert failures == []


def test_golden_hex_matches_bytes() -> None:
    row = _golden_rows()[0]
    h, _ = pdq_from_rgb(_load(row.path))
    assert pdq_hex(h) == h.hex() == row.hex
    assert pdq_from_hex(row.hex) == h


# --------------------------------------------------------------- dihedral
@pytest.mark.parametrize("rel", DIHEDRAL_SAMPLES)
def test_dihedral_matches_pdqhash(rel: str) -> None:
    pdqhash = _pdqhash()
    if not (DATA / rel).is_file():
        pytest.skip(f"absent: {rel}")
    rgb = _load(rel)
    ours, quality = pdq_dihedral_from_rgb(rgb)
    vectors, ref_quality = pdqhash.compute_dihedral(rgb)
    assert ours == [_ref_bytes(v) for v in vectors]
    assert quality == ref_quality
    assert ours[0] == pdq_from_rgb(rgb)[0]


TRANSFORMS: dict[int, Callable[[np.ndarray], np.ndarray]] = {  # dihedral index -> numpy
    1: lambda a: np.rot90(a),  # rotate90 (counter-clockwise)
    2: lambda a: np.rot90(a, 2),
    3: lambda a: np.rot90(a, 3),
    4: lambda a: a[::-1],  # flipX: upside down
    5: lambda a: a[:, ::-1],  # flipY: left-right
    6: lambda a: a.transpose(1, 0, 2),  # flipPlus1: main diagonal
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),  # flipMinus1
}


def test_dihedral_hashes_predict_transformed_pixels() -> None:
    """Each dihedral hash is near the hash of the transformed photo (PDQ paper)."""
    rel = DIHEDRAL_SAMPLES[0]
    if not (DATA / rel).is_file():
        pytest.skip(f"absent: {rel}")
    rgb = _load(rel)
    hashes, _ = pdq_dihedral_from_rgb(rgb)
    for index, transform in TRANSFORMS.items():
        direct, _ = pdq_from_rgb(np.ascontiguousarray(transform(rgb)))
        distance = bin(int.from_bytes(hashes[index], "big") ^ int.from_bytes(direct, "big"))
        assert distance.count("1") <= 16, index


# ----------------------------------------------------- random vs pdqhash
ODD_SIZES = [(7, 9), (123, 77), (1000, 3), (3, 1000), (5, 5), (64, 64), (65, 63), (257, 129)]


@pytest.mark.parametrize(("h", "w"), ODD_SIZES)
@pytest.mark.parametrize("make", [_noise, _smooth], ids=["noise", "smooth"])
def test_random_images_match_pdqhash(h: int, w: int, make: Any) -> None:
    pdqhash = _pdqhash()
    rgb = make(h, w, seed=h * 1009 + w)
    vector, ref_quality = pdqhash.compute(rgb)
    assert pdq_from_rgb(rgb) == (_ref_bytes(vector), ref_quality)
    vectors, ref_quality = pdqhash.compute_dihedral(rgb)
    assert pdq_dihedral_from_rgb(rgb) == ([_ref_bytes(v) for v in vectors], ref_quality)


def _many_sizes() -> Iterator[tuple[int, int]]:
    rng = np.random.default_rng(7)
    for _ in range(12):
        yield int(rng.integers(5, 700)), int(rng.integers(5, 700))


def test_many_random_sizes_match_pdqhash() -> None:
    pdqhash = _pdqhash()
    for i, (h, w) in enumerate(_many_sizes()):
        rgb = _smooth(h, w, seed=i)
        vector, ref_quality = pdqhash.compute(rgb)
        assert pdq_from_rgb(rgb) == (_ref_bytes(vector), ref_quality), (h, w)


# ------------------------------------------------------------- invariants
def test_hex_round_trip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        h = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
        s = pdq_hex(h)
        assert len(s) == 64
        assert s == s.lower()
        assert pdq_from_hex(s) == h
        assert pdq_from_hex(s.upper()) == h


@pytest.mark.parametrize("bad", ["", "0" * 63, "0" * 65, "g" * 64, " " + "0" * 63, "0x" + "0" * 62])
def test_from_hex_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        pdq_from_hex(bad)


def test_hex_rejects_wrong_length() -> None:
    with pytest.raises(ValueError):
        pdq_hex(bytes(31))


@pytest.mark.parametrize(("h", "w"), [(4, 100), (100, 4), (1, 1), (0, 0), (4, 4)])
def test_small_images_hash_to_zero(h: int, w: int) -> None:
    assert min(h, w) < MIN_HASHABLE_DIM == 5
    rgb = _noise(h, w, seed=1)
    assert pdq_from_rgb(rgb) == (bytes(32), 0)
    assert pdq_dihedral_from_rgb(rgb) == ([bytes(32)] * 8, 0)


def test_flat_image_has_low_quality() -> None:
    rgb = np.full((480, 640, 3), 128, dtype=np.uint8)
    _, quality = pdq_from_rgb(rgb)
    assert quality == 0


def test_non_contiguous_input() -> None:
    rgb = _smooth(200, 300, seed=3)
    view = rgb[::-1, ::2]
    assert pdq_from_rgb(view) == pdq_from_rgb(np.ascontiguousarray(view))


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
    ],
    ids=["2d", "rgba", "float"],
)
def test_rejects_non_rgb_arrays(arr: np.ndarray) -> None:
    with pytest.raises(ValueError):
        pdq_from_rgb(arr)

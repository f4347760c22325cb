"""Registered-side local features: a capped, coarse set of ORB descriptors.

This is what ``empreinte hash`` adds to a fingerprint so that crops, rotations,
screenshots and collages can be found. It is deliberately poor in information:

* at most :data:`MAX_FEATURES` binary descriptors of 32 bytes (ORB, 256 bits);
* keypoint positions only, quantised to a :data:`GRID` x :data:`GRID` grid over
  the image's longer side (no scale, no orientation, no colour, no pixels);
* the image is reduced to :data:`WORK_SIDE` pixels on its longer side first, so
  a 48 MP original yields no more detail than a thumbnail-sized one.

Wire layout (``orb-v1``), little-endian::

    magic "EO" | version u8 | grid_bits u8 | count u16 | width_q u8 | height_q u8
    count x 32-byte descriptors
    count x (x u8, y u8) grid positions

``width_q``/``height_q`` are the image extent in grid units (the longer side is
``GRID - 1``). With 256 features this is 8,712 bytes, 11,616 as base64.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from empreinte.errors import SignalError

WIRE_NAME: Final = "orb-v1"
"""Proposed signal type name for :class:`~empreinte.hashing.signals.SignalType`."""

MAX_FEATURES: Final = 256
MAX_CAP: Final = 360
"""No record may hold more: 360 features is 12,248 bytes, 16,332 as base64."""
GRID_BITS: Final = 7
GRID: Final = 1 << GRID_BITS
WORK_SIDE: Final = 512
MAX_SERIALIZED: Final = 16 * 1024
"""Hard cap on the base64 text of one image's features."""

_MAGIC: Final = b"EO"
_VERSION: Final = 1
_HEADER: Final = struct.Struct("<2sBBHBB")
_DESC: Final = 32
_CELLS: Final = 8
"""Keypoints are spread over a _CELLS x _CELLS grid so that any crop keeps some."""

_DETECT: Final = 5000
MIN_SIDE: Final = 40


@dataclass(frozen=True, slots=True)
class LocalFeatures:
    """Capped ORB descriptors with coarse positions in grid units of the longer side."""

    descriptors: np.ndarray  # (n, 32) uint8
    points: np.ndarray  # (n, 2) uint8, x then y, in [0, GRID)
    width_q: int
    height_q: int
    grid_bits: int = GRID_BITS

    def __post_init__(self) -> None:
        n = self.descriptors.shape[0]
        if self.descriptors.shape != (n, _DESC) or self.descriptors.dtype != np.uint8:
            raise SignalError("descriptors must be an (n, 32) uint8 array")
        if self.points.shape != (n, 2) or self.points.dtype != np.uint8:
            raise SignalError("points must be an (n, 2) uint8 array")
        if n > MAX_CAP:
            raise SignalError(f"{n} features is over the cap")

    def __len__(self) -> int:
        return int(self.descriptors.shape[0])

    @property
    def grid(self) -> int:
        return 1 << self.grid_bits

    def to_bytes(self) -> bytes:
        """Serialise to the fixed ``orb-v1`` layout."""
        head = _HEADER.pack(
            _MAGIC, _VERSION, self.grid_bits, len(self), self.width_q, self.height_q
        )
        return head + self.descriptors.tobytes() + self.points.tobytes()

    def to_text(self) -> str:
        """Serialise as base64 text, the form stored in a fingerprint record."""
        return base64.b64encode(self.to_bytes()).decode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalFeatures:
        """Parse the ``orb-v1`` layout; raise :class:`SignalError` when malformed."""
        if len(data) < _HEADER.size:
            raise SignalError("local features: truncated header")
        magic, version, grid_bits, count, wq, hq = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise SignalError("local features: not an orb-v1 record")
        if not 4 <= grid_bits <= 8:
            raise SignalError(f"local features: grid of {grid_bits} bits is not supported")
        if len(data) != _HEADER.size + count * (_DESC + 2):
            raise SignalError("local features: length does not match the count")
        off = _HEADER.size
        desc = np.frombuffer(data, np.uint8, count * _DESC, off).reshape(count, _DESC).copy()
        pts = np.frombuffer(data, np.uint8, count * 2, off + count * _DESC).reshape(count, 2).copy()
        return cls(desc, pts, int(wq), int(hq), int(grid_bits))

    @classmethod
    def from_text(cls, text: str) -> LocalFeatures:
        if len(text) > MAX_SERIALIZED:
            raise SignalError("local features: over the 16 KB cap")
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError as exc:
            raise SignalError("local features: not base64") from exc
        return cls.from_bytes(raw)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Return the 8-bit luma of an RGB (or already gray) array."""
    if rgb.ndim == 2:
        return np.ascontiguousarray(rgb, dtype=np.uint8)
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY))


def resize_longer(gray: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Shrink (never enlarge) so the longer side is at most ``side``; return image and factor."""
    h, w = gray.shape[:2]
    f = min(1.0, side / max(h, w))
    if f >= 1.0:
        return gray, 1.0
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA)), f


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 2), np.float32), np.zeros((0, _DESC), np.uint8)


def _orb(nfeatures: int, fast_threshold: int) -> cv2.ORB:
    return cv2.ORB.create(
        nfeatures=nfeatures,
        scaleFactor=1.2,
        nlevels=8,
        edgeThreshold=19,
        patchSize=31,
        fastThreshold=fast_threshold,
    )


def orb_features(
    gray: np.ndarray,
    detect: int,
    keep: int,
    fast_threshold: int = 12,
    weight: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Detect up to ``detect`` ORB keypoints, keep ``keep`` spread over the image, describe them.

    ``weight(gray, points)`` scales each keypoint's response before the spread.
    Returns (points (n, 2) float32 in ``gray`` pixels, descriptors (n, 32) uint8).
    Images under :data:`MIN_SIDE` pixels on a side yield no features.
    """
    return describe(gray, orb_keypoints(gray, detect, keep, fast_threshold, weight))


def orb_keypoints(
    gray: np.ndarray,
    detect: int,
    keep: int,
    fast_threshold: int = 12,
    weight: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> list[cv2.KeyPoint]:
    """The keypoints :func:`orb_features` describes (none under :data:`MIN_SIDE` pixels)."""
    if min(gray.shape[:2]) < MIN_SIDE:
        return []
    kps = _orb(detect, fast_threshold).detect(gray, None)
    if len(kps) == 0:
        return []
    pts = np.asarray(cv2.KeyPoint.convert(kps), np.float32).reshape(-1, 2)
    resp = np.fromiter((k.response for k in kps), np.float32, count=len(kps))
    if weight is not None:
        resp = resp * weight(gray, pts)
    return [kps[int(i)] for i in spread(pts, resp, gray.shape[:2], keep)]


def describe(gray: np.ndarray, keypoints: Sequence[cv2.KeyPoint]) -> tuple[np.ndarray, np.ndarray]:
    """ORB descriptors of ``keypoints`` (their own angle and octave); keypoints too near the
    border are dropped. Returns (points (n, 2) float32, descriptors (n, 32) uint8)."""
    if len(keypoints) == 0:
        return _empty()
    kept, desc = _orb(max(1, len(keypoints)), 12).compute(gray, list(keypoints))
    if desc is None or len(kept) == 0:
        return _empty()
    pts = np.asarray(cv2.KeyPoint.convert(kept), np.float32).reshape(-1, 2)
    return pts, np.asarray(desc, np.uint8)


def spread(
    points: np.ndarray, response: np.ndarray, shape: tuple[int, int], cap: int
) -> np.ndarray:
    """Pick up to ``cap`` indices, strongest first within each cell, cells in turn."""
    if len(points) <= cap:
        return np.argsort(-response, kind="stable")
    h, w = shape
    cx = np.minimum((points[:, 0] * _CELLS / max(w, 1)).astype(np.int64), _CELLS - 1)
    cy = np.minimum((points[:, 1] * _CELLS / max(h, 1)).astype(np.int64), _CELLS - 1)
    cell = cy * _CELLS + cx
    order = np.lexsort((-response, cell))
    sorted_cells = cell[order]
    starts = np.searchsorted(sorted_cells, sorted_cells, side="left")
    rank = np.arange(len(order)) - starts
    # round-robin: rank within cell first, then strongest
    pick = order[np.lexsort((-response[order], rank))]
    return pick[:cap]


def extract(rgb: np.ndarray, cap: int = MAX_FEATURES, grid_bits: int = GRID_BITS) -> LocalFeatures:
    """Compute the capped local features of an image (registered side)."""
    if rgb.ndim not in (2, 3) or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise SignalError("local features: expected an HxW or HxWx3 image")
    gray, _ = resize_longer(to_gray(rgb), WORK_SIDE)
    h, w = gray.shape
    grid = 1 << grid_bits
    unit = (grid - 1) / max(h, w)
    pts, desc = orb_features(gray, _DETECT, min(cap, MAX_CAP), fast_threshold=8)
    q = np.clip(np.rint(pts * unit), 0, grid - 1).astype(np.uint8)
    return LocalFeatures(
        descriptors=np.ascontiguousarray(desc),
        points=np.ascontiguousarray(q),
        width_q=round((w - 1) * unit),
        height_q=round((h - 1) * unit),
        grid_bits=grid_bits,
    )

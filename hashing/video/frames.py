"""Hold the frame signals of a video: PDQ per sampled frame, deduplicated into time ranges.

A :class:`FrameSignal` is one run of near-identical sampled frames: the PDQ
hash and quality of its first frame, the PDQ hashes of that frame's centre
crops (:data:`CROP_SCALES`, so that a cropped re-post still finds it), and the
presentation times it covers (``start`` inclusive, ``end`` exclusive, in
seconds). A still shot of a minute
is one signal, not sixty, which keeps fingerprints small and gives matches
their time ranges. A :class:`Keyframe` is the local features of one distinct
frame, so that a screenshot or a crop of that frame matches as an image would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np

from empreinte.errors import SignalError
from empreinte.hashing.pdq import HASH_BYTES
from empreinte.hashing.robust.features import LocalFeatures

CROP_SCALES: Final = (0.9, 0.8)
"""Centre crops hashed with each registered frame, as a share of the width and height."""
DEDUP_DISTANCE: Final = 10
"""Consecutive sampled frames within this PDQ distance of a run's first frame join the run."""


@dataclass(frozen=True, slots=True)
class FrameSignal:
    """A run of near-identical frames: one PDQ hash, its quality, and its time range."""

    pdq: bytes
    quality: int
    start: float
    end: float
    crops: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if any(len(h) != HASH_BYTES for h in (self.pdq, *self.crops)):
            raise SignalError("a frame PDQ must have 256 bits")
        if len(self.crops) > len(CROP_SCALES):
            raise SignalError(f"a frame has at most {len(CROP_SCALES)} crop hashes")
        if not 0 <= self.quality <= 100:
            raise SignalError(f"frame quality {self.quality} is outside 0..100")
        if not 0 <= self.start <= self.end:
            raise SignalError(f"frame time range {self.start}..{self.end} is not ordered")

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The frame's PDQ, then its crops' PDQs."""
        return (self.pdq, *self.crops)

    def to_text(self) -> str:
        """Return the wire form ``start,end,quality,pdq_hex[,crop_hex...]``."""
        hexes = ",".join(h.hex() for h in self.hashes)
        return f"{self.start:.3f},{self.end:.3f},{self.quality},{hexes}"

    @classmethod
    def from_text(cls, text: str) -> FrameSignal:
        """Parse :meth:`to_text`; raise :class:`SignalError` with the reason."""
        parts = text.split(",")
        if not 4 <= len(parts) <= 4 + len(CROP_SCALES):
            raise SignalError("a frame must be 'start,end,quality,pdq_hex[,crop_hex...]'")
        try:
            start, end, quality = float(parts[0]), float(parts[1]), int(parts[2])
            hashes = [bytes.fromhex(p) for p in parts[3:]]
        except ValueError as exc:
            raise SignalError(f"malformed frame {text[:80]!r}") from exc
        return cls(hashes[0], quality, start, end, tuple(hashes[1:]))


@dataclass(frozen=True, slots=True)
class Keyframe:
    """The local features of one distinct frame, at its presentation time."""

    time: float
    features: LocalFeatures


@dataclass(frozen=True, slots=True)
class Sample:
    """One sampled frame's hash: presentation time, PDQ and quality."""

    time: float
    pdq: bytes
    quality: int
    crops: tuple[bytes, ...] = ()


def dedup(
    samples: Iterable[Sample], end: float, distance: int = DEDUP_DISTANCE
) -> list[FrameSignal]:
    """Merge consecutive samples within ``distance`` of their run's first one.

    ``end`` is the presentation time where the last run stops (the video's duration).
    """
    runs: list[Sample] = []
    for s in samples:
        if not runs or hamming(runs[-1].pdq, s.pdq) > distance:
            runs.append(s)
    out = []
    for i, s in enumerate(runs):
        stop = runs[i + 1].time if i + 1 < len(runs) else max(end, s.time)
        out.append(FrameSignal(s.pdq, s.quality, round(s.time, 3), round(stop, 3), s.crops))
    return out


def centre_crops(rgb: np.ndarray) -> list[np.ndarray]:
    """Return the centre crops of ``rgb`` at :data:`CROP_SCALES`."""
    h, w = rgb.shape[:2]
    out = []
    for scale in CROP_SCALES:
        dy, dx = round(h * (1 - scale) / 2), round(w * (1 - scale) / 2)
        out.append(np.ascontiguousarray(rgb[dy : h - dy, dx : w - dx]))
    return out


def hamming(a: bytes, b: bytes) -> int:
    """Return the Hamming distance between two equal-length byte strings."""
    return int.bit_count(int.from_bytes(a, "big") ^ int.from_bytes(b, "big"))


def pack(hashes: Iterable[bytes]) -> np.ndarray:
    """Return 32-byte hashes as an ``(n, 32)`` uint8 array."""
    rows = list(hashes)
    if not rows:
        return np.zeros((0, HASH_BYTES), np.uint8)
    return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), HASH_BYTES)

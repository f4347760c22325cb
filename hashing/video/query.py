"""Hash a video, or a still, that may be a re-post of a registered video.

A platform's upload is hashed as a registration is (black bars cropped),
and differs in four ways, so that :mod:`.compare` can find a registered video in it:

* it is sampled up to 30 times a second (:data:`QUERY_INTERVAL`), so that
  each registered sample (one a second, at any phase) has a query frame
  within a frame of it;
* the 8 dihedral PDQ hashes (``pdqDihedralHash256esFromFloatLuma``), for
  mirrored and rotated re-posts;
* when part of the picture never changes (a screen recording inside a phone or
  video-call frame, a banner, a static border), the same 8 hashes of the box
  that does change, found from the per-pixel range of the first
  :data:`MOTION_FRAMES` samples.

* each view also gets the PDQ of its centre crops (:data:`QUERY_CROPS`), as is
  and mirrored, which meet the registered frame's own centre crops when the
  re-post was cropped.

Transform ``t`` of every frame is view ``t // 17``; within a view, 0-7 are the
8 dihedral hashes, then 3 (as is, flipped about each axis) per crop scale.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from empreinte.hashing.pdq import pdq_dihedral_from_rgb
from empreinte.hashing.video.decode import (
    Sampling,
    VideoLimits,
    crop_bars,
    open_video,
    reduce_rgb,
    sample,
)
from empreinte.hashing.video.frames import DEDUP_DISTANCE, FrameSignal, hamming, pack
from empreinte.hashing.video.worker import run_isolated

QUERY_INTERVAL: Final = 1 / 30
"""Queries are sampled up to 30 frames a second (registrations once a second), so that every
registered sample has a query frame within a frame of it, whatever the cut or the phase."""
MOTION_FRAMES: Final = 300
QUERY_CROPS: Final = (0.975, 0.95, 0.925)
"""Centre crops of each query view, hashed as is and mirrored: with the registered frame's own
crops (90 %, 80 %) they line up a re-post cropped by 0 to 20 % within about 1.5 % of scale."""
_MIRRORS: Final = (0, 4, 5)
"""Dihedral variants kept for the crops: as is, and the two mirrors."""
_MOTION_RANGE: Final = 24
_ACTIVE_SHARE: Final = 0.2
_MAX_BOX_AREA: Final = 0.85
_MIN_BOX_AREA: Final = 0.08


@dataclass(frozen=True, slots=True)
class QueryFrame:
    """A run of near-identical query frames: its time range, quality and transform hashes."""

    start: float
    end: float
    quality: int
    hashes: np.ndarray
    """``(transforms, 32)`` uint8: the PDQ hash of this frame under each transform."""


@dataclass(frozen=True, slots=True)
class QueryVideo:
    """The frames of a query, each with the same number of transform hashes."""

    duration: float
    frames: tuple[QueryFrame, ...]
    transforms: int


def query_video(
    data: bytes, limits: VideoLimits = VideoLimits(), *, isolated: bool = True
) -> QueryVideo:
    """Decode ``data`` from memory (in a killable process) and hash it as a query."""
    return run_isolated(hash_query, data, limits) if isolated else hash_query(data, limits)


def hash_query(data: bytes, limits: VideoLimits) -> QueryVideo:
    """Decode and hash ``data`` as a query in this process."""
    opened = open_video(data, limits)
    try:
        stream = ((f.time, f.rgb) for f in sample(opened, limits, Sampling(QUERY_INTERVAL)))
        frames, last = _hash_stream(stream)
    finally:
        opened.container.close()
    duration = max(opened.info.duration or 0.0, last + 1.0 if frames else 0.0)
    return _dedup(frames, duration)


def query_still(rgb: np.ndarray) -> QueryVideo:
    """Return a one-frame query of a still image (a screenshot of a frame)."""
    frames, _ = _hash_stream(iter([(0.0, reduce_rgb(rgb))]))
    return _dedup(frames, 0.0)


def query_from_frames(frames: Sequence[FrameSignal], duration: float) -> QueryVideo:
    """Return a query of frame signals known only by their hashes (vPDQ lines): no transforms."""
    rows = tuple(QueryFrame(f.start, f.end, f.quality, pack([f.pdq])) for f in frames)
    return QueryVideo(duration, rows, 1)


def _hash_stream(
    stream: Iterator[tuple[float, np.ndarray]],
) -> tuple[list[tuple[float, int, np.ndarray]], float]:
    head: list[tuple[float, np.ndarray]] = []
    for item in stream:
        head.append(item)
        if len(head) >= MOTION_FRAMES:
            break
    box = motion_box([rgb for _, rgb in head])
    out, last = [], 0.0
    for t, rgb in _chain(head, stream):
        views = [crop_bars(rgb)] + ([rgb[box[0] : box[1], box[2] : box[3]]] if box else [])
        hashes, quality = [], 0
        for view in views:
            dihedral, q = pdq_dihedral_from_rgb(np.ascontiguousarray(view))
            hashes.extend(dihedral)
            quality = max(quality, q)
            for scale in QUERY_CROPS:
                scaled, _ = pdq_dihedral_from_rgb(_centre(view, scale))
                hashes.extend(scaled[i] for i in _MIRRORS)
        out.append((t, quality, pack(hashes)))
        last = t
    return out, last


def _centre(rgb: np.ndarray, scale: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    dy, dx = round(h * (1 - scale) / 2), round(w * (1 - scale) / 2)
    return np.ascontiguousarray(rgb[dy : h - dy, dx : w - dx])


def _chain(
    head: list[tuple[float, np.ndarray]], rest: Iterator[tuple[float, np.ndarray]]
) -> Iterator[tuple[float, np.ndarray]]:
    yield from head
    yield from rest


def motion_box(frames: Sequence[np.ndarray]) -> tuple[int, int, int, int] | None:
    """Return ``(top, bottom, left, right)`` of the part of the picture that changes.

    None when the whole picture changes, too little of it does, or the frames
    differ in size.
    """
    if len(frames) < 3 or len({f.shape for f in frames}) != 1:
        return None
    low = np.full(frames[0].shape[:2], 255, np.uint8)
    high = np.zeros(frames[0].shape[:2], np.uint8)
    for f in frames:
        gray = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        np.minimum(low, gray, out=low)
        np.maximum(high, gray, out=high)
    active = (high.astype(np.int16) - low) > _MOTION_RANGE
    rows = np.flatnonzero(active.mean(axis=1) >= _ACTIVE_SHARE)
    cols = np.flatnonzero(active.mean(axis=0) >= _ACTIVE_SHARE)
    if rows.size == 0 or cols.size == 0:
        return None
    h, w = active.shape
    area = (rows[-1] + 1 - rows[0]) * (cols[-1] + 1 - cols[0]) / (h * w)
    if not _MIN_BOX_AREA <= area <= _MAX_BOX_AREA:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _dedup(frames: list[tuple[float, int, np.ndarray]], duration: float) -> QueryVideo:
    runs: list[tuple[float, int, np.ndarray]] = []
    for item in frames:
        if not runs or hamming(runs[-1][2][0].tobytes(), item[2][0].tobytes()) > DEDUP_DISTANCE:
            runs.append(item)
    out = []
    for i, (t, quality, hashes) in enumerate(runs):
        stop = runs[i + 1][0] if i + 1 < len(runs) else max(duration, t)
        out.append(QueryFrame(round(t, 3), round(stop, 3), quality, hashes))
    transforms = out[0].hashes.shape[0] if out else 8
    return QueryVideo(round(duration, 3), tuple(out), transforms)

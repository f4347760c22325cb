"""Fingerprint a video to register it: frame PDQs by time, keyframe features, digests.

The record of a video is a :class:`~empreinte.hashing.fingerprint.Fingerprint`
whose ``media_type`` is ``video/...``: SHA-256 and MD5 of the file (MD5 is
StopNCII's VideoMD5), the duration, one :class:`~.frames.FrameSignal` per run
of near-identical frames sampled once a second, and the local features of a
few distinct keyframes. It holds no pixels, no name and no path, and it is
capped in size per minute of video (:func:`check_size_cap`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from empreinte.errors import SignalError
from empreinte.hashing.fingerprint import Fingerprint, Signal
from empreinte.hashing.pdq import pdq_from_rgb
from empreinte.hashing.robust.features import extract
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.hashing.video.decode import (
    PIPELINE,
    Sampling,
    VideoInfo,
    VideoLimits,
    crop_bars,
    open_video,
    sample,
)
from empreinte.hashing.video.frames import (
    FrameSignal,
    Keyframe,
    Sample,
    centre_crops,
    dedup,
    hamming,
)
from empreinte.hashing.video.worker import run_isolated

KEYFRAMES_PER_MINUTE: Final = 2
MAX_KEYFRAMES: Final = 8
KEYFRAME_DISTINCT: Final = 31
"""A keyframe is kept only if its PDQ is farther than this from every kept one."""
KEYFRAME_QUALITY: Final = 50
SIZE_CAP_PER_MINUTE: Final = 40 * 1024
"""Most bytes a video record may take in a fingerprint file, per started minute of video."""
FRAMES_PER_MINUTE: Final = 60
"""Most frame signals a record may hold per started minute (one a second)."""


@dataclass(frozen=True, slots=True)
class VideoHashes:
    """What the decoding process sends back: the header, frame signals and keyframes."""

    info: VideoInfo
    duration: float
    frames: tuple[FrameSignal, ...]
    keyframes: tuple[Keyframe, ...]


def fingerprint_video(
    data: bytes, limits: VideoLimits = VideoLimits(), *, isolated: bool = True
) -> Fingerprint:
    """Decode ``data`` (from memory) and return its record, within ``limits``.

    With ``isolated`` (the default) decoding runs in a killable child process
    (:mod:`.worker`). Raises :class:`~.errors.VideoTooLarge` or
    :class:`~.errors.UnsupportedVideo` with a human reason.
    """
    hashes = run_isolated(hash_video, data, limits) if isolated else hash_video(data, limits)
    return record_from_hashes(hashes, data)


def record_from_hashes(hashes: VideoHashes, data: bytes) -> Fingerprint:
    """Build the record of a hashed video whose file bytes are ``data``."""
    signals = (
        Signal(HashValue(SignalType.SHA256, hashlib.sha256(data).digest())),
        Signal(HashValue(SignalType.MD5, hashlib.md5(data, usedforsecurity=False).digest())),
    )
    record = Fingerprint(
        media_type=hashes.info.media_type,
        width=hashes.info.width,
        height=hashes.info.height,
        signals=signals,
        pipeline=PIPELINE,
        duration=hashes.duration,
        frames=hashes.frames,
        keyframes=hashes.keyframes,
    )
    check_size_cap(record)
    return record


def hash_video(data: bytes, limits: VideoLimits) -> VideoHashes:
    """Decode and hash ``data`` in this process (the job :func:`fingerprint_video` isolates)."""
    opened = open_video(data, limits)
    try:
        samples: list[Sample] = []
        picker = _KeyframePicker(opened.info.duration)
        last = 0.0
        for frame in sample(opened, limits, Sampling()):
            rgb = crop_bars(frame.rgb)
            pdq, quality = pdq_from_rgb(rgb)
            crops = tuple(pdq_from_rgb(c)[0] for c in centre_crops(rgb))
            samples.append(Sample(frame.time, pdq, quality, crops))
            picker.offer(frame.time, rgb, pdq, quality)
            last = frame.time
    finally:
        opened.container.close()
    duration = max(opened.info.duration or 0.0, last + 1.0 if samples else 0.0)
    frames = tuple(dedup(samples, duration))
    return VideoHashes(opened.info, round(duration, 3), frames, tuple(picker.finish()))


class _KeyframePicker:
    """Keep the best frame of each window of time; extract features of the distinct ones.

    Windows last 60 / :data:`KEYFRAMES_PER_MINUTE` seconds, longer when the
    declared duration would give more than :data:`MAX_KEYFRAMES` windows.
    """

    def __init__(self, duration: float | None) -> None:
        window = 60.0 / KEYFRAMES_PER_MINUTE
        self.window = max(window, (duration or 0.0) / MAX_KEYFRAMES)
        self.best: tuple[int, float, np.ndarray, bytes] | None = None
        self.index = 0
        self.kept: list[tuple[bytes, Keyframe]] = []

    def offer(self, t: float, rgb: np.ndarray, pdq: bytes, quality: int) -> None:
        index = int(t // self.window)
        if index != self.index:
            self._close()
            self.index = index
        if quality >= KEYFRAME_QUALITY and (self.best is None or quality > self.best[0]):
            self.best = (quality, t, rgb, pdq)

    def _close(self) -> None:
        best, self.best = self.best, None
        if best is None or len(self.kept) >= MAX_KEYFRAMES:
            return
        _, t, rgb, pdq = best
        if all(hamming(pdq, other) > KEYFRAME_DISTINCT for other, _ in self.kept):
            self.kept.append((pdq, Keyframe(round(t, 3), extract(rgb))))

    def finish(self) -> list[Keyframe]:
        self._close()
        return [k for _, k in self.kept]


def minutes(duration: float) -> int:
    """Return the started minutes of a video (at least 1)."""
    return max(1, math.ceil(duration / 60.0 - 1e-9))


def check_size_cap(record: Fingerprint) -> None:
    """Raise :class:`SignalError` when a video record is over its per-minute caps.

    A record may hold at most :data:`FRAMES_PER_MINUTE` frame signals and
    ``KEYFRAMES_PER_MINUTE`` keyframes (and never more than :data:`MAX_KEYFRAMES`)
    per started minute, and its JSON form at most :data:`SIZE_CAP_PER_MINUTE`
    bytes per started minute.
    """
    from empreinte.hashing.fingerprint_file import record_to_json

    started = minutes(record.duration or 0.0)
    if len(record.frames) > FRAMES_PER_MINUTE * started:
        raise SignalError(
            f"{len(record.frames)} frame signals for {started} minute(s) of video, "
            f"over the cap of {FRAMES_PER_MINUTE} a minute"
        )
    if len(record.keyframes) > min(MAX_KEYFRAMES, KEYFRAMES_PER_MINUTE * started):
        raise SignalError(f"{len(record.keyframes)} keyframes is over the cap")
    size = len(json.dumps(record_to_json(record), separators=(",", ":")))
    if size > SIZE_CAP_PER_MINUTE * started:
        raise SignalError(
            f"the record takes {size:,} bytes for {started} minute(s) of video, "
            f"over the cap of {SIZE_CAP_PER_MINUTE:,} bytes a minute"
        )

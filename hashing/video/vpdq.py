"""Read, write and compute vPDQ's frame hashes: ``frame,quality,hash,seconds`` lines.

vPDQ (facebook/ThreatExchange ``vpdq/``) hashes every ``int(seconds * fps)``-th
decoded frame (every frame when that is 0), converted to RGB24 by swscale with
``SWS_AREA``, optionally downscaled to a fixed size first, with the PDQ
reference. :func:`vpdq_hash` samples the same way through PyAV (FFmpeg from
the wheel, no C++ build); ``tests/hashing/test_video_vpdq.py`` measures how
close it comes to vPDQ's published hashes.

Imported lines become registered frames or query frames with
:func:`to_frames`: resampled to one frame a second by their timestamps, then
deduplicated, as Empreinte's own sampling.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from empreinte.errors import SignalError
from empreinte.hashing.pdq import HASH_BYTES, pdq_from_rgb
from empreinte.hashing.video.decode import Sampling, VideoLimits, open_video, sample
from empreinte.hashing.video.frames import FrameSignal, Sample, dedup
from empreinte.hashing.video.worker import run_isolated

MAX_LINES: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class VpdqFeature:
    """One vPDQ line: decode-order frame number, quality, PDQ hash, seconds."""

    frame: int
    quality: int
    pdq: bytes
    seconds: float

    def to_line(self) -> str:
        return f"{self.frame},{self.quality},{self.pdq.hex()},{self.seconds:.3f}"


def vpdq_hash(
    data: bytes,
    limits: VideoLimits = VideoLimits(),
    *,
    seconds_per_hash: float = 0.0,
    size: tuple[int, int] | None = None,
    isolated: bool = True,
) -> list[VpdqFeature]:
    """Hash ``data`` as vPDQ does (``seconds_per_hash`` 0: every frame; ``size``: downscale)."""
    job = functools.partial(
        _hash_job, sampling=Sampling(vpdq_seconds=seconds_per_hash, vpdq_size=size)
    )
    return run_isolated(job, data, limits) if isolated else job(data, limits)


def _hash_job(data: bytes, limits: VideoLimits, *, sampling: Sampling) -> list[VpdqFeature]:
    opened = open_video(data, limits)
    try:
        out = []
        for frame in sample(opened, limits, sampling):
            pdq, quality = pdq_from_rgb(frame.rgb)
            out.append(VpdqFeature(frame.number, quality, pdq, frame.time))
        return out
    finally:
        opened.container.close()


def dumps(features: Iterable[VpdqFeature]) -> str:
    """Return vPDQ's text form, one line a frame."""
    return "".join(f.to_line() + "\n" for f in features)


def loads(text: str) -> list[VpdqFeature]:
    """Parse vPDQ lines; raise :class:`SignalError` naming the first bad line."""
    out: list[VpdqFeature] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(out) >= MAX_LINES:
            raise SignalError(f"more than {MAX_LINES:,} vPDQ lines")
        out.append(_parse_line(line, number))
    return out


def _parse_line(line: str, number: int) -> VpdqFeature:
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != 4:
        raise SignalError(f"vPDQ line {number}: expected 'frame,quality,hash,seconds'")
    try:
        frame, quality, seconds = int(parts[0]), int(parts[1]), float(parts[3])
        pdq = bytes.fromhex(parts[2])
    except ValueError:
        raise SignalError(f"vPDQ line {number}: malformed number or hash") from None
    if len(pdq) != HASH_BYTES or not 0 <= quality <= 100:
        raise SignalError(f"vPDQ line {number}: the hash must be 64 hex digits, quality 0..100")
    if frame < 0 or not math.isfinite(seconds) or seconds < 0:
        raise SignalError(f"vPDQ line {number}: negative frame number or time")
    return VpdqFeature(frame, quality, pdq, seconds)


def to_frames(features: Sequence[VpdqFeature], interval: float = 1.0) -> list[FrameSignal]:
    """Resample vPDQ features to one per ``interval`` seconds by timestamp, then deduplicate."""
    ordered = sorted(features, key=lambda f: (f.seconds, f.frame))
    samples: list[Sample] = []
    next_time = 0.0
    for f in ordered:
        if f.seconds + 1e-6 >= next_time:
            samples.append(Sample(f.seconds, f.pdq, f.quality))
            next_time = (math.floor(f.seconds / interval + 1e-6) + 1) * interval
    end = ordered[-1].seconds + interval if ordered else 0.0
    return dedup(samples, end)

"""Open untrusted video bytes from memory and yield frames sampled by presentation time.

The decoding pipeline is part of the fingerprint, as for images; it is named
:data:`PIPELINE` and its steps are pinned. ``empreinte-video-v1``:

1. Refuse more than ``max_bytes`` and sniff the container from the bytes
   (:mod:`.sniff`); only the demuxer of that container may read it (FFmpeg never
   probes for another format, so no playlist or concat demuxer ever runs).
2. From the container header, before any frame is decoded, refuse too many
   streams, no video stream, a picture over ``max_side`` or ``max_pixels``, a
   declared duration over ``max_seconds`` and a declared frame count over
   ``max_frames``. A header that lies is caught while decoding: every frame is
   checked again, and decoding stops with a refusal at the first frame past a
   limit (the video is refused, never cut: a fingerprint of its first hours
   would claim to be the whole video).
3. Decode the first video stream in presentation order; take the first frame at
   or after each multiple of ``interval`` seconds of presentation time (relative
   to the first frame), so variable-frame-rate phone videos do not drift.
4. Convert it to 8-bit RGB with swscale (``rgb24``, ``SWS_AREA``, as vPDQ does),
   and turn it upright from the display-matrix rotation.
5. In the same swscale pass, reduce the longer side to :data:`WORK_SIDE` pixels
   (area averaging; PDQ filters to 64x64 anyway, and this makes hashing cost
   independent of the resolution). :func:`reduce_rgb` does the same for stills.
6. The fingerprint crops black bars (letterbox and pillarbox rows or columns whose
   mean luma is at most :data:`BAR_LUMA`, :func:`crop_bars`) before hashing, so a
   re-post with added bars hashes as the original.

vPDQ's own sampling (:class:`Sampling` with ``vpdq_seconds``) skips steps 5-6 and
takes frame ``n`` when ``n % int(seconds * fps) == 0``, counting frames in
decoding order, optionally downscaled to a fixed size as vPDQ's
``downsampleWidth``/``downsampleHeight``.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import av
import av.error
import cv2
import numpy as np

from empreinte.hashing.video.errors import UnsupportedVideo, VideoTooLarge
from empreinte.hashing.video.sniff import sniff

PIPELINE: Final = "empreinte-video-v1"
WORK_SIDE: Final = 512
BAR_LUMA: Final = 20.0
_MAX_BAR_SHARE: Final = 0.4
_FFMPEG_MAX_STREAMS: Final = 1000
"""FFmpeg's demuxers stop adding streams here (its ``max_streams`` option)."""


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Bounds on what a video decoder may be asked to do."""

    max_bytes: int = 512 * 1024 * 1024
    max_seconds: float = 2 * 3600.0
    max_side: int = 8192
    max_pixels: int = 8192 * 4320
    max_frames: int = 2 * 3600 * 120
    max_streams: int = 64
    max_wall_seconds: float = 900.0
    max_memory: int = 3 * 1024 * 1024 * 1024
    """Address-space limit (RLIMIT_AS) of the decoding process, in bytes."""
    startup_seconds: float = 20.0
    """Time allowed to start the decoding process (interpreter, imports) past the wall limit."""


@dataclass(frozen=True, slots=True)
class Sampling:
    """Which frames to take: one per ``interval`` seconds, or vPDQ's frame-count rule."""

    interval: float = 1.0
    vpdq_seconds: float | None = None
    """When set, sample as vPDQ: every ``int(vpdq_seconds * fps)``-th frame (0: every frame)."""
    vpdq_size: tuple[int, int] | None = None
    """vPDQ mode only: downscale every frame to this (width, height) first."""

    @property
    def vpdq(self) -> bool:
        return self.vpdq_seconds is not None


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the container header says."""

    media_type: str
    width: int
    height: int
    duration: float | None
    fps: float
    declared_frames: int


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """One sampled frame: its decode-order number, presentation time and RGB pixels."""

    number: int
    time: float
    rgb: np.ndarray


@dataclass
class Opened:
    """An open container, its video stream and what its header says."""

    container: Any
    stream: Any
    info: VideoInfo


def refuse_non_video(data: bytes) -> NoReturn:
    """Raise :class:`UnsupportedVideo` with the reason ``data`` is not a video we read."""
    if len(data) == 0:
        raise UnsupportedVideo("empty file (0 bytes)")
    if data[:6] in (b"GIF87a", b"GIF89a"):
        raise UnsupportedVideo("a GIF is read as an image (its first frame), not as a video")
    from empreinte.errors import ImageError
    from empreinte.hashing.decode import open_image

    try:
        image = open_image(data)
    except ImageError:
        raise UnsupportedVideo("not a video Empreinte reads (MP4, MOV, WebM, MKV or 3GP)") from None
    raise UnsupportedVideo(f"this file is an image ({image.format}), not a video")


def open_video(data: bytes, limits: VideoLimits) -> Opened:
    """Open ``data`` with its own demuxer and check its header against ``limits``."""
    if len(data) > limits.max_bytes:
        raise VideoTooLarge(f"file is {len(data):,} bytes, over the limit of {limits.max_bytes:,}")
    container_kind = sniff(data)
    if container_kind is None:
        refuse_non_video(data)
    try:
        container = av.open(
            io.BytesIO(data),
            format=container_kind.demuxer,
            options={"probesize": "5000000", "analyzeduration": "5000000"},
            timeout=limits.max_wall_seconds,
        )
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise UnsupportedVideo(f"corrupt or truncated container ({_short(exc)})") from exc
    try:
        stream = _check_streams(container, limits)
        info = _header_info(container, stream, container_kind.media_type, limits)
    except Exception:
        container.close()
        raise
    stream.thread_count = 1
    return Opened(container, stream, info)


def _check_streams(container: Any, limits: VideoLimits) -> Any:
    streams = list(container.streams)
    if len(streams) > limits.max_streams:
        count = (
            f"at least {len(streams):,}"
            if len(streams) >= _FFMPEG_MAX_STREAMS
            else f"{len(streams):,}"
        )
        raise VideoTooLarge(
            f"the container has {count} streams, over the limit of {limits.max_streams}"
        )
    videos = [s for s in streams if s.type == "video"]
    if not videos:
        kinds = sorted({s.type for s in streams})
        has = f" (it has {len(streams):,} {'/'.join(kinds)} streams)" if streams else ""
        raise UnsupportedVideo(f"no video track{has}")
    return videos[0]


def _header_info(container: Any, stream: Any, media_type: str, limits: VideoLimits) -> VideoInfo:
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    if width <= 0 or height <= 0:
        raise UnsupportedVideo(
            f"the video track has no usable picture size ({width}x{height}): its header "
            "claims a size FFmpeg refuses (over about 16,000x16,000) or none"
        )
    check_size(width, height, limits, "the header claims")
    duration = _declared_duration(container, stream)
    if duration is not None and duration > limits.max_seconds:
        raise VideoTooLarge(
            f"the video runs {_clock(duration)}, over the limit of {_clock(limits.max_seconds)}"
        )
    declared = int(stream.frames or 0)
    if declared > limits.max_frames:
        raise VideoTooLarge(
            f"the header declares {declared:,} frames, over the limit of {limits.max_frames:,}"
        )
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    if not math.isfinite(fps) or fps <= 0:
        fps = declared / duration if declared and duration else 25.0
    return VideoInfo(media_type, width, height, duration, fps, declared)


def check_size(width: int, height: int, limits: VideoLimits, what: str) -> None:
    """Raise :class:`VideoTooLarge` when a picture is over the side or pixel limit."""
    if max(width, height) > limits.max_side or width * height > limits.max_pixels:
        raise VideoTooLarge(
            f"{what} {width:,}x{height:,} pixels a frame, over the limit of "
            f"{limits.max_side:,} a side and {limits.max_pixels:,} a frame"
        )


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration) / 1_000_000
    return None


def sample(opened: Opened, limits: VideoLimits, sampling: Sampling) -> Iterator[SampledFrame]:
    """Yield the sampled frames of an open video, enforcing ``limits`` on every frame."""
    started = time.monotonic()
    info, stream = opened.info, opened.stream
    frame_mod = max(1, int((sampling.vpdq_seconds or 0.0) * info.fps))
    next_time = 0.0
    origin: float | None = None
    number = -1
    for frame in _decoded(opened):
        number += 1
        if number >= limits.max_frames:
            raise VideoTooLarge(f"the video has more than {limits.max_frames:,} frames")
        if time.monotonic() - started > limits.max_wall_seconds:
            raise VideoTooLarge(
                f"decoding took longer than {limits.max_wall_seconds:.0f} s (the time limit)"
            )
        check_size(frame.width, frame.height, limits, "a frame is")
        t = _frame_time(frame, number, info.fps)
        origin = t if origin is None else origin
        t -= origin
        if t > limits.max_seconds:
            raise VideoTooLarge(
                f"the video runs past {_clock(limits.max_seconds)} (the duration limit)"
            )
        if sampling.vpdq:
            if number % frame_mod == 0:
                yield SampledFrame(number, number / info.fps, _vpdq_rgb(frame, sampling))
        elif t + 1e-6 >= next_time:
            next_time = (math.floor(t / sampling.interval + 1e-6) + 1) * sampling.interval
            yield SampledFrame(number, t, _upright_rgb(frame))
    _check_complete(stream, number + 1, info)


def _decoded(opened: Opened) -> Iterator[Any]:
    stream = opened.stream
    try:
        for packet in opened.container.demux(stream):
            yield from packet.decode()
    except av.error.FFmpegError as exc:
        raise UnsupportedVideo(f"corrupt or truncated video data ({_short(exc)})") from exc


def _check_complete(stream: Any, decoded: int, info: VideoInfo) -> None:
    if decoded == 0:
        raise UnsupportedVideo("the video track holds no decodable frame (empty or truncated)")
    if info.declared_frames and decoded < info.declared_frames * 0.98 - 2:
        raise UnsupportedVideo(
            f"truncated: the header declares {info.declared_frames:,} frames "
            f"but only {decoded:,} could be decoded"
        )


def _frame_time(frame: Any, number: int, fps: float) -> float:
    if frame.pts is not None and frame.time_base:
        return float(frame.pts * frame.time_base)
    return number / fps


def _vpdq_rgb(frame: Any, sampling: Sampling) -> np.ndarray:
    width, height = sampling.vpdq_size or (frame.width, frame.height)
    rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    return np.ascontiguousarray(rgb.to_ndarray())


def _upright_rgb(frame: Any) -> np.ndarray:
    """Convert and reduce in one swscale pass (steps 4-5), then turn upright."""
    scale = min(1.0, WORK_SIDE / max(frame.width, frame.height))
    width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    rgb = frame.reformat(
        width=width, height=height, format="rgb24", interpolation="AREA"
    ).to_ndarray()
    turns = round(float(getattr(frame, "rotation", 0) or 0) / 90) % 4
    return np.rot90(rgb, k=turns) if turns else rgb


def reduce_rgb(rgb: np.ndarray) -> np.ndarray:
    """Reduce the longer side to :data:`WORK_SIDE` pixels by area averaging (step 5)."""
    h, w = rgb.shape[:2]
    scale = WORK_SIDE / max(h, w)
    if scale >= 1:
        return np.ascontiguousarray(rgb)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def crop_bars(rgb: np.ndarray) -> np.ndarray:
    """Return the picture inside black bars (step 6)."""
    top, bottom, left, right = bar_box(rgb)
    return np.ascontiguousarray(rgb[top:bottom, left:right])


def bar_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """Return ``(top, bottom, left, right)`` of the picture inside black bars."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    h, w = luma.shape
    rows, cols = luma.mean(axis=1), luma.mean(axis=0)
    top, bottom = _edges(rows, int(h * _MAX_BAR_SHARE))
    left, right = _edges(cols, int(w * _MAX_BAR_SHARE))
    return top, h - bottom, left, w - right


def _edges(profile: np.ndarray, cap: int) -> tuple[int, int]:
    dark = profile <= BAR_LUMA
    lead = int(np.argmin(dark)) if not dark.all() else 0
    trail = int(np.argmin(dark[::-1])) if not dark.all() else 0
    lead, trail = min(lead, cap), min(trail, cap)
    return (lead, trail) if lead > 1 or trail > 1 else (0, 0)


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 160 else text[:157] + "..."

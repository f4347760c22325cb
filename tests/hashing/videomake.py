"""Make small videos for the video tests: encoded with PyAV, in memory."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from tests.conftest import photo


def texture(seed: int, size: tuple[int, int]) -> np.ndarray:
    """Return a detailed picture: a photo-like base with finer blobs (PDQ quality near 100)."""
    width, height = size
    rng = np.random.default_rng(seed + 1000)
    base = np.asarray(photo(seed, size), np.float64)
    fine = rng.uniform(0, 255, (height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
    detail = np.asarray(Image.fromarray(fine).resize(size, Image.Resampling.BICUBIC), np.float64)
    return np.clip(0.6 * base + 0.4 * detail, 0, 255).astype(np.uint8)


def pan(seed: int, count: int, size: tuple[int, int] = (160, 120)) -> list[np.ndarray]:
    """Return ``count`` frames of a camera panning across a photo-like picture."""
    width, height = size
    big = texture(seed, (width * 2, height))
    step = max(1, (big.shape[1] - width) // max(1, count))
    return [np.ascontiguousarray(big[:, i * step : i * step + width]) for i in range(count)]


def encode(
    frames: Sequence[np.ndarray],
    *,
    fps: int = 10,
    times: Sequence[float] | None = None,
    fmt: str = "mp4",
    codec: str = "libx264",
    audio_tracks: int = 0,
    options: dict[str, str] | None = None,
    codec_options: dict[str, str] | None = None,
) -> bytes:
    """Encode RGB frames; ``times`` (seconds) gives each frame's presentation time (VFR).

    Written through a temporary file, since MP4's ``faststart`` reopens its output.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"clip.{fmt}"
        _write(path, frames, fps, times, fmt, codec, audio_tracks, options, codec_options)
        return path.read_bytes()


def _write(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: int,
    times: Sequence[float] | None,
    fmt: str,
    codec: str,
    audio_tracks: int,
    options: dict[str, str] | None,
    codec_options: dict[str, str] | None,
) -> None:
    with av.open(str(path), "w", format=fmt, options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps, options=codec_options or {})
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if times is not None:
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
        for _ in range(audio_tracks):
            container.add_stream("aac", rate=8000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if times is not None:
                frame.pts = round(times[i] * 1000)
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


class _Bits:
    """Read and write the bits of an H.264 RBSP (exp-Golomb codes)."""

    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{b:08b}" for b in data)
        self.pos = 0
        self.out: list[str] = []

    def u(self, n: int, copy: bool = True) -> int:
        value = int(self.bits[self.pos : self.pos + n], 2)
        if copy:
            self.out.append(self.bits[self.pos : self.pos + n])
        self.pos += n
        return value

    def ue(self, copy: bool = True) -> int:
        zeros = 0
        while self.bits[self.pos + zeros] == "0":
            zeros += 1
        value = int(self.bits[self.pos + zeros : self.pos + 2 * zeros + 1], 2) - 1
        if copy:
            self.out.append(self.bits[self.pos : self.pos + 2 * zeros + 1])
        self.pos += 2 * zeros + 1
        return value

    def put_ue(self, value: int) -> None:
        code = f"{value + 1:b}"
        self.out.append("0" * (len(code) - 1) + code)


def claim_size(mp4: bytes, width: int, height: int) -> bytes:
    """Rewrite the SPS of a baseline H.264 MP4 so that it claims ``width`` x ``height``.

    The ``tkhd`` and sample-entry fields are 16-bit, so they claim 65,535 (their
    most); the SPS, where FFmpeg's decoder reads the size, claims the full lie.
    The SPS keeps its byte length (its VUI is dropped), so no box size changes.
    """
    mp4 = _claim_boxes(mp4, min(width, 65535), min(height, 65535))
    at = mp4.index(b"avcC") + 4
    length = int.from_bytes(mp4[at + 6 : at + 8], "big")
    start = at + 8
    nal = mp4[start : start + length]
    rbsp = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")
    b = _Bits(rbsp)
    profile = b.u(8)
    b.u(16)
    b.ue()
    if profile != 66:
        raise ValueError("encode with the baseline profile")
    b.ue()
    if b.ue() == 0:
        b.ue()
    b.ue()
    b.u(1)
    b.ue(copy=False)
    b.ue(copy=False)
    b.put_ue(width // 16 - 1)
    b.put_ue(height // 16 - 1)
    if b.u(1) == 0:
        b.u(1)
    b.u(1)
    b.out.append("0")  # frame_cropping_flag
    b.out.append("0")  # vui_parameters_present_flag
    b.out.append("1")
    bits = "".join(b.out)
    bits += "0" * (-len(bits) % 8)
    body = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    if len(body) + 1 > length:
        raise ValueError("the new SPS is longer than the old one")
    new = nal[:1] + body + bytes(length - 1 - len(body))
    return mp4[:start] + new + mp4[start + length :]


def _claim_boxes(mp4: bytes, width: int, height: int) -> bytes:
    data = bytearray(mp4)
    entry = data.index(b"avc1", data.index(b"stsd"))
    data[entry + 28 : entry + 32] = width.to_bytes(2, "big") + height.to_bytes(2, "big")
    tkhd = data.index(b"tkhd") + 4
    at = tkhd + (76 if data[tkhd] == 0 else 88)
    data[at : at + 8] = (width << 16).to_bytes(4, "big") + (height << 16).to_bytes(4, "big")
    return bytes(data)


def _element(ident: int, payload: bytes) -> bytes:
    size = (len(payload) | (1 << 56)).to_bytes(8, "big")
    return ident.to_bytes((ident.bit_length() + 7) // 8, "big") + size + payload


def _uint(ident: int, value: int) -> bytes:
    return _element(ident, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def audio_only_mkv(tracks: int) -> bytes:
    """Return a Matroska header with ``tracks`` PCM audio tracks and no video (hand-made EBML)."""
    header = _element(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _element(0x4282, b"matroska")
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    audio = _element(0xE1, _element(0xB5, struct.pack(">d", 8000.0)) + _uint(0x9F, 1))
    entries = b"".join(
        _element(
            0xAE,
            _uint(0xD7, n)
            + _uint(0x73C5, n)
            + _uint(0x83, 2)
            + _element(0x86, b"A_PCM/INT/LIT")
            + audio,
        )
        for n in range(1, tracks + 1)
    )
    info = _element(0x1549A966, _uint(0x2AD7B1, 1_000_000))
    cluster = _element(0x1F43B675, _uint(0xE7, 0))
    return header + _element(0x18538067, info + _element(0x1654AE6B, entries) + cluster)

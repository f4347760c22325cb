"""Turn image bytes into a fingerprint record: every signal, and nothing that names the file.

A :class:`Fingerprint` is what leaves the victim's device. It holds a random id,
the media type and size, the decoding pipeline's name, and a list of signals.
It never holds pixels, a file name or a path. New kinds of signal (region
hashes, local features, video frames) are new entries in ``signals`` with a new
``type``; readers skip what they do not know, so the record format stays.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Final

import imagehash
import numpy as np
from PIL import Image

from empreinte.errors import LowQualityImage
from empreinte.hashing.decode import PIPELINE, DecodedImage, Limits, decode
from empreinte.hashing.pdq import pdq_from_rgb
from empreinte.hashing.robust.features import LocalFeatures, extract
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.hashing.video.frames import FrameSignal, Keyframe

QUALITY_FLOOR: Final = 50
"""PDQ quality below this is too flat to match reliably; such images are not registered."""

_COMPAT_SIDE: Final = 512
"""pHash, dHash and wHash are computed on a grayscale copy box-reduced to at most this side."""


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal of a fingerprint: its value and, for perceptual ones, the image quality."""

    value: HashValue
    quality: int | None = None

    @property
    def type(self) -> SignalType:
        return self.value.signal


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The record of one image or video: a random id, its shape, hashes and local features.

    ``features`` (capped ORB descriptors with coarse positions) let crops,
    rotations and screenshots be found; records from version 1 files have none.
    A video (``media_type`` ``video/...``, see :mod:`empreinte.hashing.video`)
    has its ``duration`` in seconds, ``frames`` (PDQ by time range) and the
    features of a few ``keyframes`` instead of ``features``.
    """

    media_type: str
    width: int
    height: int
    signals: tuple[Signal, ...]
    pipeline: str = PIPELINE
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    features: LocalFeatures | None = None
    duration: float | None = None
    frames: tuple[FrameSignal, ...] = ()
    keyframes: tuple[Keyframe, ...] = ()

    @property
    def is_video(self) -> bool:
        return self.media_type.startswith("video/")

    def get(self, kind: SignalType) -> Signal | None:
        """Return the signal of this kind, or None when the record lacks it."""
        for signal in self.signals:
            if signal.type is kind:
                return signal
        return None

    @property
    def quality(self) -> int:
        """The PDQ quality score (0–100) of the image; of its best frame for a video."""
        if self.is_video:
            return max((f.quality for f in self.frames), default=0)
        pdq = self.get(SignalType.PDQ)
        return (pdq.quality or 0) if pdq is not None else 0

    def check_registrable(self, floor: int = QUALITY_FLOOR) -> None:
        """Raise :class:`LowQualityImage` when the PDQ quality is below ``floor``."""
        if self.quality < floor:
            raise LowQualityImage(self.quality, floor)


def fingerprint_bytes(data: bytes, limits: Limits = Limits()) -> Fingerprint:
    """Decode ``data`` with the pinned pipeline and compute every signal.

    Raises :class:`~empreinte.errors.ImageError` for unreadable input. A
    low-quality image still gets a fingerprint; call
    :meth:`Fingerprint.check_registrable` before registering it.
    """
    decoded = decode(data, limits)
    return fingerprint_decoded(decoded, data)


def fingerprint_decoded(decoded: DecodedImage, data: bytes) -> Fingerprint:
    """Compute every signal of an already decoded image whose encoded bytes are ``data``."""
    pdq_raw, quality = pdq_from_rgb(decoded.rgb)
    small = _compat_gray(decoded.rgb)
    signals = (
        Signal(HashValue(SignalType.PDQ, pdq_raw), quality),
        Signal(_imagehash_value(SignalType.PHASH, imagehash.phash(small)), quality),
        Signal(_imagehash_value(SignalType.DHASH, imagehash.dhash(small)), quality),
        Signal(_imagehash_value(SignalType.WHASH, imagehash.whash(small, image_scale=64)), quality),
        Signal(HashValue(SignalType.SHA256, hashlib.sha256(data).digest())),
        Signal(HashValue(SignalType.MD5, hashlib.md5(data, usedforsecurity=False).digest())),
    )
    return Fingerprint(
        media_type=decoded.media_type,
        width=decoded.width,
        height=decoded.height,
        signals=signals,
        features=extract(decoded.rgb),
    )


def _compat_gray(rgb: np.ndarray) -> Image.Image:
    """Return the grayscale image the 64-bit imagehash signals are computed on.

    imagehash resizes with Lanczos from full resolution, which costs more than
    PDQ on a phone photo; a box reduction to at most 512 px first changes the
    64-bit hashes by a bit or two at most and keeps them comparable. wHash is
    computed at a fixed 64x64 scale (imagehash's default grows with the image,
    which costs 5 ms a photo and makes the value depend on the image size).
    """
    gray = Image.fromarray(rgb).convert("L")
    factor = max(1, min(gray.size) // _COMPAT_SIDE)
    return gray.reduce(factor) if factor > 1 else gray


def _imagehash_value(kind: SignalType, value: imagehash.ImageHash) -> HashValue:
    bits = np.asarray(value.hash, dtype=bool).ravel()
    return HashValue(kind, np.packbits(bits).tobytes())

"""Tell a video container from its first bytes, never from a file name.

ISO base media files (MP4, MOV, 3GP) start with a box whose type is ``ftyp``
(or, in old QuickTime files, ``moov``, ``mdat``, ``wide``, ``free``, ``skip``);
the ``ftyp`` brand tells MP4, MOV and 3GP apart. Matroska and WebM start with
the EBML magic ``1A 45 DF A3`` and name their ``DocType`` in the header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

_QUICKTIME_BOXES: Final = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_EBML: Final = b"\x1a\x45\xdf\xa3"


@dataclass(frozen=True, slots=True)
class Container:
    """A sniffed container: its media type and the only demuxer allowed to read it."""

    media_type: str
    demuxer: str


def sniff(data: bytes) -> Container | None:
    """Return the container of ``data``, or None when it is not a video Empreinte reads."""
    head = data[:64]
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith((b"3gp", b"3g2", b"3ge", b"3gg")):
            return Container("video/3gpp", "mov")
        if brand == b"qt  ":
            return Container("video/quicktime", "mov")
        if brand in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
            return None  # HEIF and AVIF stills are images
        return Container("video/mp4", "mov")
    if len(head) >= 8 and head[4:8] in _QUICKTIME_BOXES:
        return Container("video/quicktime", "mov")
    if head.startswith(_EBML):
        doc = data[:4096]
        if b"webm" in doc:
            return Container("video/webm", "matroska")
        return Container("video/x-matroska", "matroska")
    return None


def is_video(data: bytes) -> bool:
    """Return True when ``data`` starts like a video container Empreinte reads."""
    return sniff(data) is not None

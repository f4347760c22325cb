"""Bound what decoding untrusted images may cost: bytes, pixels, memory and concurrency.

A 381 KB PNG can claim 49 million 16-bit RGBA pixels and cost about a gigabyte
to decode and hash; six at once took 4.9 GB. Every image that comes from
outside (platform uploads, crawled images, re-checks) is therefore decoded
through one :class:`DecodeBudget` per process:

1. the header is read first (:func:`~empreinte.hashing.decode.open_image`), and
   the byte and pixel limits are checked before any pixel is decoded;
2. the memory the whole pipeline will need is estimated from the dimensions
   (:data:`BYTES_PER_PIXEL`, measured on the pipeline) and reserved from the
   process's budget; an image that alone exceeds it is refused, and one that
   must wait longer than ``wait`` seconds for room is refused as "busy";
3. at most ``concurrency`` images are decoded at once;
4. after a large image, freed memory is handed back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Final

from empreinte.detection.service import ImageQuery, prepare_image
from empreinte.errors import EmpreinteError, ImageTooLarge
from empreinte.hashing.decode import Limits, open_image
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.query import QueryVideo, query_video

BYTES_PER_PIXEL: Final = 20
"""Peak bytes per pixel of decoding and hashing one image (about 18 measured, any mode)."""
TRIM_ABOVE: Final = 64 * 1024 * 1024


class DecoderBusy(EmpreinteError):
    """No room to decode this image now; the caller should try again later."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("the server is decoding other large images: try again shortly")
        self.retry_after = retry_after


class DecodeBudget:
    """Decode images within ``limits``, ``memory`` bytes and ``concurrency`` at once."""

    def __init__(
        self,
        limits: Limits,
        *,
        memory: int = 1_200_000_000,
        concurrency: int = 2,
        wait: float = 20.0,
    ) -> None:
        self.limits = limits
        self.memory = memory
        self.concurrency = concurrency
        self.wait = wait
        self._used = 0
        self._running = 0
        self._room = threading.Condition()

    def cost(self, data: bytes) -> int:
        """Return the bytes decoding ``data`` will need; raise if over a limit or the budget."""
        image = open_image(data, self.limits)
        width, height = image.size
        image.close()
        needed = width * height * BYTES_PER_PIXEL + len(data)
        if needed > self.memory:
            raise ImageTooLarge(
                f"image of {width}x{height} pixels needs about {needed // 2**20:,} MB to decode, "
                f"over this server's budget of {self.memory // 2**20:,} MB"
            )
        return needed

    def prepare(self, data: bytes) -> ImageQuery:
        """Hash ``data`` into everything to look up, within the budget."""
        needed = self.cost(data)
        with self._reserve(needed):
            try:
                return prepare_image(data, self.limits)
            finally:
                if needed > TRIM_ABOVE:
                    _trim()

    def prepare_video(self, data: bytes, limits: VideoLimits) -> QueryVideo:
        """Hash a video as a query in a killable process, taking one of the decoding slots.

        The decoder's memory is the child process's own (bounded by
        ``limits.max_memory``); here only the bytes held and the slot are counted.
        """
        with self._reserve(len(data)):
            return query_video(data, limits)

    @contextmanager
    def _reserve(self, needed: int) -> Iterator[None]:
        deadline = time.monotonic() + self.wait
        with self._room:
            while self._running >= self.concurrency or self._used + needed > self.memory:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DecoderBusy(retry_after=max(1.0, self.wait / 4))
                self._room.wait(left)
            self._used += needed
            self._running += 1
        try:
            yield
        finally:
            with self._room:
                self._used -= needed
                self._running -= 1
                self._room.notify_all()


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name)
    except OSError:
        return None
    return library if hasattr(library, "malloc_trim") else None


def _trim() -> None:
    """Give freed heap memory back to the system (glibc keeps it otherwise)."""
    library = _libc()
    if library is not None:
        library.malloc_trim(0)

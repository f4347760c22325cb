"""Name the ways a video is refused.

They derive from the image errors so that every path that already turns an
:class:`~empreinte.errors.ImageError` into a clear refusal (the batch, the API)
refuses a bad video the same way, with ``reason`` for humans.
"""

from __future__ import annotations

from empreinte.errors import ImageTooLarge, UnsupportedImage


class VideoTooLarge(ImageTooLarge):
    """The video is over a byte, pixel, duration, frame-count or time limit."""


class UnsupportedVideo(UnsupportedImage):
    """The video is empty, corrupt, truncated, has no picture, or is not a video."""

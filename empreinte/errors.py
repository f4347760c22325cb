"""Declare the one exception tree of Empreinte.

Every error raised on purpose by Empreinte derives from :class:`EmpreinteError`;
errors of libraries (Pillow, faiss, SQLAlchemy, httpx) are translated at the
edge of each room with ``raise ... from exc``::

    EmpreinteError
    ├── ImageError                 the bytes are not a usable image
    │   ├── ImageTooLarge          over the byte or pixel limit (decompression bomb)
    │   └── UnsupportedImage       corrupt, truncated or of a format we do not read
    ├── LowQualityImage            PDQ quality below the registration floor
    ├── FingerprintFileError       a fingerprint file fails validation (lists every bad record)
    ├── SignalError                a malformed hash value or an unknown signal type
    ├── NotFound, Conflict         registry lookups and state (store/registry.py)
    │   └── InvalidTransition      a notice cannot move to that state (notices/errors.py)
    ├── DeliveryError              a notice could not be delivered (notices/errors.py)
    │   ├── DeliveryUnavailable    try again later (timeout, 5xx, refused connection)
    │   └── DeliveryRejected       the receiver refused it for good (4xx, bad TLS, 550)
    ├── FetchError                 a re-check could not fetch the URL
    ├── InvalidAddress             a URL, webhook, domain or e-mail address is unusable
    ├── BlockedAddress             the SSRF guard refuses a non-public address (net/guard.py)
    ├── InvalidSeed                a crawl seed URL is unusable
    └── Skip                       a crawler step drops an item (crawler/errors.py)
"""

from __future__ import annotations

from collections.abc import Sequence


class EmpreinteError(Exception):
    """Base of every error Empreinte raises on purpose."""


class ImageError(EmpreinteError):
    """The bytes given are not a usable image; ``reason`` is for humans."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImageTooLarge(ImageError):
    """The image is over the byte or pixel limit."""


class UnsupportedImage(ImageError):
    """The image is corrupt, truncated, or of a format Empreinte does not read."""


class LowQualityImage(EmpreinteError):
    """The image has too little detail for a reliable PDQ hash."""

    def __init__(self, quality: int, floor: int) -> None:
        super().__init__(f"PDQ quality {quality} is below {floor}: too little detail to match")
        self.quality = quality
        self.floor = floor


class SignalError(EmpreinteError):
    """A hash value is malformed, or its signal type is unknown."""


class FingerprintFileError(EmpreinteError):
    """A fingerprint file is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[str]) -> None:
        summary = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"invalid fingerprint file: {summary}{more}")
        self.problems = list(problems)


class InvalidAddress(EmpreinteError):
    """A URL, webhook, domain or e-mail address is unusable; the message says why."""


class BlockedAddress(EmpreinteError):
    """A host is, or resolves to, an address Empreinte must not connect to."""


class InvalidSeed(EmpreinteError):
    """A seed URL cannot be crawled (not http or https, or malformed)."""

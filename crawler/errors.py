"""Name what can go wrong while crawling; every class derives from ``EmpreinteError``.

::

    EmpreinteError
    ├── Skip              a step drops the current URL (``reason`` names the case);
    │                     with ``retry_after`` the frontier tries it again later
    ├── BlockedAddress    the SSRF guard refused an address (empreinte.errors)
    └── InvalidSeed       a seed is not an http(s) URL the crawler may fetch (empreinte.errors)
"""

from __future__ import annotations

from empreinte.errors import BlockedAddress, EmpreinteError, InvalidSeed

__all__ = ["BlockedAddress", "InvalidSeed", "Skip"]


class Skip(EmpreinteError):
    """Drop the URL being crawled, for ``reason``; the only way a step stops an item.

    ``reason`` is a short word counted in the crawl's summary (``robots``,
    ``too_large``, ``blocked_address``…); ``detail`` is for humans. With
    ``retry_after`` (seconds) the URL goes back to the frontier for a later try
    instead, until the crawl's ``max_attempts``.
    """

    def __init__(self, reason: str, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after

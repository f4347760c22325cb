"""Check and take apart URLs the same way in every room: hosts, schemes, lengths."""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from empreinte.errors import InvalidAddress

MAX_URL: Final = 2048
SCHEMES: Final = ("http", "https")

_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


def host_of(url: str) -> str:
    """Return the lower-case host of ``url``; raise :class:`InvalidAddress` if it has none."""
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:
        raise InvalidAddress(f"not a URL: {url[:200]!r}") from exc
    if not host:
        raise InvalidAddress(f"not an absolute URL: {url[:200]!r}")
    return host.lower().rstrip(".")


def http_url(url: str, *, max_length: int = MAX_URL, credentials: bool = True) -> str:
    """Return ``url`` without its fragment if it is an absolute http(s) URL; else raise.

    ``credentials=False`` also refuses user information (``http://user:pass@host``),
    which must never reach a log or another organisation.
    """
    text = url.strip()
    if len(text) > max_length:
        raise InvalidAddress(f"URL is {len(text):,} characters, over the limit of {max_length:,}")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidAddress(f"not a URL: {text[:200]!r}") from exc
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidAddress(f"not an http or https URL: {text[:200]!r}")
    host_of(text)
    if not credentials and (parts.username is not None or parts.password is not None):
        raise InvalidAddress("a URL must not carry a user name or password")
    netloc = parts.netloc.lower() if credentials else parts.netloc.rpartition("@")[2].lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the IP address a host name spells, in any of the forms resolvers accept.

    Besides the usual forms, C resolvers read ``0x7f000001``, ``2130706433``,
    ``0177.0.0.1`` and ``127.1`` as addresses: those are decoded here too.
    """
    name = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        pass
    if not _NUMERIC_HOST.match(name):
        return None
    parts = [_number(p) for p in name.split(".")]
    if any(p is None for p in parts):
        return None
    values = [p for p in parts if p is not None]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = 0
    for value in head:
        number = number * 256 + value
    number = number * 256 ** (5 - len(values)) + last
    return ipaddress.IPv4Address(number) if number < 2**32 else None


def _number(text: str) -> int | None:
    try:
        if text.startswith(("0x", "0X")):
            return int(text, 16)
        if len(text) > 1 and text.startswith("0"):
            return int(text, 8)
        return int(text, 10)
    except ValueError:
        return None

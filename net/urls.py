"""Check, normalise and take apart URLs the same way in every room.

:func:`http_url` checks a URL given by a person (a webhook, a reported page);
:func:`host_of` and :func:`literal_address` take it apart.

Normalise URLs so that one resource has one spelling, and spot link traps.

:func:`normalise` lowercases the scheme and host (IDNA), drops the default
port, the user info and the fragment, resolves dot segments, normalises
percent-escapes, strips session ids and tracking parameters, and sorts the
query. Two URLs that normalise alike are fetched once per crawl
(:func:`url_hash` is the frontier's key).

:func:`pattern` maps a URL to its shape (digits and long hex runs folded,
query values dropped) so that a crawl can cap how many URLs of one shape it
takes: an infinite calendar or a session-id explosion is one shape.
"""

from __future__ import annotations

import hashlib
import ipaddress
import posixpath
import re
from typing import Final
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

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


SESSION_PARAMS: Final = frozenset(
    {
        "sid",
        "sessionid",
        "session_id",
        "session",
        "phpsessid",
        "jsessionid",
        "aspsessionid",
        "cfid",
        "cftoken",
        "sessid",
        "s_id",
        "fbclid",
        "gclid",
        "msclkid",
        "yclid",
        "mc_eid",
        "_ga",
    }
)
"""Query parameters removed by :func:`normalise` (compared lowercased), besides ``utm_*``."""

IMAGE_SUFFIXES: Final = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".gif",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".heic",
    ".heif",
    ".avif",
)

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_PATH_PARAM = re.compile(r";(?:jsessionid|sessionid|phpsessid|sid)=[^/?#]*", re.IGNORECASE)
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~%"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_DIGITS = re.compile(r"\d+")
_HEXISH = re.compile(r"[0-9a-f]{8,}", re.IGNORECASE)


def normalise(url: str, base: str | None = None) -> str | None:
    """Return the canonical form of ``url`` (resolved against ``base``), or None.

    None means the URL is not one the crawler fetches: another scheme
    (``mailto:``, ``javascript:``, ``data:``), no host, a bad port or host,
    or longer than the frontier stores.
    """
    cleaned = _CONTROL.sub("", url).strip()
    try:
        parts = urlsplit(urljoin(base, cleaned) if base else cleaned)
        port = parts.port
        host = _host(parts.hostname or "")
    except (ValueError, UnicodeError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    bare = f"[{host}]" if ":" in host else host
    netloc = bare if port in (None, _DEFAULT_PORTS[scheme]) else f"{bare}:{port}"
    result = urlunsplit((scheme, netloc, _path(parts.path), _query(parts.query), ""))
    return result if len(result) <= MAX_URL else None


def _host(host: str) -> str:
    host = host.rstrip(".").lower()
    if not host or ":" in host:
        return host
    return host.encode("idna").decode("ascii")


def _path(path: str) -> str:
    path = _escapes(_PATH_PARAM.sub("", path)) or "/"
    resolved = posixpath.normpath(path)
    if resolved.startswith("//"):
        resolved = "/" + resolved.lstrip("/")
    if path.endswith("/") and resolved != "/":
        resolved += "/"
    return quote(resolved, safe=_PATH_SAFE)


def _escapes(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, _LONE_PERCENT.sub("%25", text))


def _query(query: str) -> str:
    if not query:
        return ""
    pairs = [
        (key, value)
        for key, value in parse_qsl(query, keep_blank_values=True)
        if key.lower() not in SESSION_PARAMS and not key.lower().startswith("utm_")
    ]
    return urlencode(sorted(pairs), quote_via=quote, safe="/:@!$'()*,;~")


def url_hash(url: str) -> bytes:
    """The frontier's key of a normalised URL: 16 bytes of its SHA-256."""
    return hashlib.sha256(url.encode()).digest()[:16]


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def pattern(url: str) -> bytes:
    """Return 8 bytes naming the shape of ``url``: digits and long hex runs folded."""
    parts = urlsplit(url)
    path = _DIGITS.sub("0", _HEXISH.sub("x", parts.path))
    keys = sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)})
    shape = f"{parts.hostname}{path}?{'&'.join(keys)}"
    return hashlib.sha256(shape.encode()).digest()[:8]


def path_trap(url: str, max_depth: int) -> str | None:
    """Say why the path of ``url`` looks like a trap (too deep, a repeating segment), or None."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if len(segments) > max_depth:
        return "path_depth"
    counts: dict[str, int] = {}
    for segment in segments:
        counts[segment] = counts.get(segment, 0) + 1
        if counts[segment] > 3:
            return "path_repeat"
    return None


def looks_like_image(url: str) -> bool:
    """True when the URL's path ends like an image file (a hint; the bytes decide)."""
    return urlsplit(url).path.lower().endswith(IMAGE_SUFFIXES)

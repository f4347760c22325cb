"""Fetch one URL within limits: bytes, seconds, redirects, and content sniffed from the body.

The body is streamed: a declared ``Content-Length`` over the limit is refused
before reading, and reading stops at the limit, so a 2 GB answer costs at most
the limit. A total-time budget covers connecting, headers and every chunk, so
a server dripping one byte a second cannot hold a worker. The first bytes
decide what the body is (:mod:`empreinte.net.sniff`); anything neither a
page nor an image is dropped at once.

Redirects are never followed by httpx: a 3xx becomes a new frontier entry
(``hops`` + 1), so each hop is deduplicated, checked against robots.txt and
the SSRF guard, and counted against ``max_redirects``. 429 and 5xx answers,
and network errors, are retried later with backoff, honouring
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib.util
import sys
import time
from typing import TYPE_CHECKING, Final

import httpx

from empreinte.crawler.errors import BlockedAddress, Skip
from empreinte.crawler.item import Item, Response
from empreinte.crawls.jobs import Link
from empreinte.crawls.limits import CrawlLimits
from empreinte.hashing.video.sniff import is_video
from empreinte.net import sniff, urls
from empreinte.net.client import async_client
from empreinte.net.guard import Resolver

if TYPE_CHECKING:
    from empreinte.crawler.context import Context

REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


def make_client(
    *,
    user_agent: str,
    allow_loopback: bool = False,
    resolver: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    connections: int = 100,
) -> httpx.AsyncClient:
    """Build the crawler's HTTP client: the guarded one, no redirects, no proxies from env.

    ``transport`` replaces the guarded one (tests with ``httpx.MockTransport``).
    """
    _remember_missing_sniffio()
    headers = {"Accept": "text/html,image/*;q=0.9,*/*;q=0.5"}
    if transport is not None:
        return httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": user_agent, **headers},
        )
    return async_client(
        user_agent=user_agent,
        allow_loopback=allow_loopback,
        resolver=resolver,
        connections=connections,
        headers=headers,
    )


def _remember_missing_sniffio() -> None:
    """Make a missing ``sniffio`` fail fast: httpcore imports it on every request.

    A failed import is not cached, so each request searched ``sys.path`` again
    (about 0.4 ms, a quarter of the crawler's CPU). Recording the absence once
    makes ``import sniffio`` raise at once; httpcore then assumes asyncio.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


async def get(
    client: httpx.AsyncClient,
    url: str,
    limits: CrawlLimits,
    attempts: int = 0,
    *,
    raw: bool = False,
) -> Response:
    """GET ``url`` within ``limits``; raise :class:`Skip` for anything unusable.

    Network errors and timeouts are retryable: their ``Skip`` carries the
    backoff for try ``attempts`` + 1. ``raw`` reads any content (robots.txt)
    up to ``max_page_bytes`` without sniffing it.
    """
    timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
    try:
        async with asyncio.timeout(limits.time_limit):
            async with client.stream("GET", url, timeout=timeout) as answer:
                return await _read(answer, url, limits, raw)
    except TimeoutError as exc:
        raise Skip("too_slow", f"no complete answer within {limits.time_limit:g} s") from exc
    except BlockedAddress as exc:
        raise Skip("blocked_address", str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise Skip("timeout", type(exc).__name__, retry_after=limits.backoff(attempts)) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise Skip("bad_url", str(exc)) from exc
    except httpx.TransportError as exc:
        raise Skip(
            "network", f"{type(exc).__name__}: {exc}", retry_after=limits.backoff(attempts)
        ) from exc


async def _read(answer: httpx.Response, url: str, limits: CrawlLimits, raw: bool) -> Response:
    headers = {k.lower(): v for k, v in answer.headers.items()}
    if answer.status_code != 200:
        return Response(url, answer.status_code, headers)
    largest = limits.max_page_bytes if raw else max(limits.max_page_bytes, limits.max_image_bytes)
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > largest:
        raise Skip("too_large", f"declares {int(declared):,} bytes, over {largest:,}")
    body = bytearray()
    content = "text" if raw else ""
    limit = largest
    async for chunk in answer.aiter_bytes():
        body += chunk
        if not content and len(body) >= sniff.SNIFF_BYTES:
            content, limit = _decide(bytes(body[: sniff.SNIFF_BYTES]), headers, limits)
        if len(body) > limit:
            raise Skip("too_large", f"body over {limit:,} bytes")
    if body and not content:
        content, limit = _decide(bytes(body), headers, limits)
        if len(body) > limit:
            raise Skip("too_large", f"body over {limit:,} bytes")
    return Response(url, 200, headers, bytes(body), content)


def _decide(head: bytes, headers: dict[str, str], limits: CrawlLimits) -> tuple[str, int]:
    content_type = headers.get("content-type", "")
    if sniff.image_type(head) is not None:
        return "image", limits.max_image_bytes
    if is_video(head):
        return "video", limits.max_image_bytes
    if sniff.is_html(head, content_type):
        return "html", limits.max_page_bytes
    if sniff.declares_image(content_type):
        raise Skip("bad_image", f"declared {content_type} but the bytes are not an image")
    raise Skip("content_type", f"neither a page nor an image ({content_type or 'no type'})")


async def fetch(item: Item, ctx: Context) -> None:
    """The fetch step: GET the entry's URL, turn redirects and retryable answers into outcomes."""
    entry, limits = item.entry, item.plan.limits
    try:
        response = await get(ctx.client, entry.url, limits, entry.attempts)
    finally:
        item.release_slot()
    if response.status in REDIRECTS:
        item.redirect = _redirect(item, response)
        return
    if response.status in RETRY_STATUSES:
        wait = retry_after(response.header("retry-after"), limits, entry.attempts)
        if response.status in (429, 503):
            ctx.politeness.penalise(urls.host_of(entry.url), wait)
        raise Skip(f"http_{response.status}", "the server asked to retry", retry_after=wait)
    if response.status != 200:
        raise Skip(f"http_{response.status}", "the server refused or has nothing here")
    if not response.body:
        raise Skip("empty", "the answer has no body")
    item.response = response


def _redirect(item: Item, response: Response) -> Link:
    entry, limits = item.entry, item.plan.limits
    target = urls.normalise(response.header("location"), entry.url)
    if target is None:
        raise Skip("bad_redirect", f"to {response.header('location')[:200]!r}")
    if target == entry.url:
        raise Skip("redirect_loop", "redirects to itself")
    if entry.hops >= limits.max_redirects:
        raise Skip("too_many_redirects", f"more than {limits.max_redirects} in a row")
    return Link(target, entry.kind, entry.depth, entry.referrer, entry.hops + 1)


def retry_after(value: str, limits: CrawlLimits, attempts: int) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or a date), else the backoff."""
    value = value.strip()
    seconds: float | None = None
    if value.isdigit():
        seconds = float(value)
    elif value:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            seconds = None
    if seconds is None:
        return limits.backoff(attempts)
    return min(max(seconds, 0.0), limits.max_retry_after)

"""Find the links and images of a web page, with the standard library's forgiving HTML parser.

Images come from ``<img src|srcset|data-src>``, ``<picture><source srcset>``,
``og:image`` and ``twitter:image``, CSS ``background(-image): url(...)`` in
``style`` attributes and ``<style>`` blocks, and links to image files.
Videos, fetched and matched as media like images, come from ``<video
src|poster>``, ``<source src>`` inside ``<video>`` or typed ``video/*``,
``og:video`` and links to video files. Pages come from ``<a>``, ``<area>``,
frames and ``<meta http-equiv=refresh>``.
``<base href>`` is honoured, and ``<meta name=robots content=nofollow>`` stops
page links (not images). ``html.parser`` never raises on malformed markup;
parsing stops once both per-page caps are reached, and runs in a thread so a
huge page does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import codecs
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Final
from urllib.parse import urljoin, urlsplit

from empreinte.crawler.errors import Skip
from empreinte.crawler.item import Item
from empreinte.crawls.jobs import Entry, Link, Plan
from empreinte.net import urls
from empreinte.store.models.crawls import Kind

if TYPE_CHECKING:
    from empreinte.crawler.context import Context

_CHUNK: Final = 64 * 1024
_OG_IMAGE: Final = frozenset(
    {"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"}
)
_OG_VIDEO: Final = frozenset(
    {"og:video", "og:video:url", "og:video:secure_url", "twitter:player:stream"}
)
VIDEO_SUFFIXES: Final = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".3gp")
_LAZY_SRC: Final = ("src", "data-src", "data-original", "data-lazy-src")
_LAZY_SRCSET: Final = ("srcset", "data-srcset")
_BACKGROUND = re.compile(r"background(?:-image)?\s*:([^;}]*)", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\"]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"charset\s*=\s*['\"]?([A-Za-z0-9_\-]+)", re.IGNORECASE)


@dataclass(slots=True)
class Found:
    """Raw URLs of one page, resolved against its base, in document order."""

    pages: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    nofollow: bool = False
    truncated: bool = False


class _Finder(HTMLParser):
    def __init__(self, base: str, max_pages: int, max_images: int) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.found = Found()
        self.max_pages = max_pages
        self.max_images = max_images
        self._base_set = False
        self._pictures = 0
        self._videos = 0
        self._in_style = False

    @property
    def full(self) -> bool:
        found = self.found
        return len(found.pages) >= self.max_pages and len(found.images) >= self.max_images

    def _page(self, url: str | None) -> None:
        if url:
            if urls.looks_like_image(url) or _looks_like_video(url):
                self._image(url)
            elif len(self.found.pages) < self.max_pages:
                self.found.pages.append(urljoin(self.base, url.strip()))
            else:
                self.found.truncated = True

    def _image(self, url: str | None) -> None:
        if url and not url.lstrip().lower().startswith("data:"):
            if len(self.found.images) < self.max_images:
                self.found.images.append(urljoin(self.base, url.strip()))
            else:
                self.found.truncated = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v is not None}
        if "style" in a:
            self._css(a["style"])
        handler = _TAGS.get(tag)
        if handler is not None:
            handler(self, a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "picture":
            self._pictures = max(0, self._pictures - 1)
        elif tag == "video":
            self._videos = max(0, self._videos - 1)
        elif tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css(data)

    def _css(self, css: str) -> None:
        for declaration in _BACKGROUND.finditer(css):
            for match in _CSS_URL.finditer(declaration.group(1)):
                self._image(match.group(2))

    def _base(self, a: dict[str, str]) -> None:
        if "href" in a and not self._base_set:
            self.base = urljoin(self.base, a["href"].strip())
            self._base_set = True

    def _anchor(self, a: dict[str, str]) -> None:
        self._page(a.get("href"))

    def _frame(self, a: dict[str, str]) -> None:
        self._page(a.get("src"))

    def _img(self, a: dict[str, str]) -> None:
        for name in _LAZY_SRC:
            self._image(a.get(name))
        for name in _LAZY_SRCSET:
            for url in srcset(a.get(name, "")):
                self._image(url)

    def _video(self, a: dict[str, str]) -> None:
        self._videos += 1
        self._image(a.get("src"))
        self._image(a.get("poster"))

    def _source(self, a: dict[str, str]) -> None:
        kind = a.get("type", "").lower()
        if self._videos or kind.startswith("video/"):
            self._image(a.get("src"))
        if self._pictures or kind.startswith("image/"):
            self._image(a.get("src"))
            for url in srcset(a.get("srcset", "")):
                self._image(url)

    def _picture(self, a: dict[str, str]) -> None:
        self._pictures += 1

    def _meta(self, a: dict[str, str]) -> None:
        name = (a.get("property") or a.get("name") or "").strip().lower()
        if name in _OG_IMAGE or name in _OG_VIDEO:
            self._image(a.get("content"))
        elif name == "robots" and any(
            w in a.get("content", "").lower() for w in ("nofollow", "none")
        ):
            self.found.nofollow = True
        elif a.get("http-equiv", "").lower() == "refresh":
            match = _REFRESH_URL.search(a.get("content", ""))
            if match:
                self._page(match.group(1))

    def _link(self, a: dict[str, str]) -> None:
        if "image_src" in a.get("rel", "").lower().split():
            self._image(a.get("href"))

    def _style(self, a: dict[str, str]) -> None:
        self._in_style = True


_TAGS: Final = {
    "base": _Finder._base,
    "a": _Finder._anchor,
    "area": _Finder._anchor,
    "iframe": _Finder._frame,
    "frame": _Finder._frame,
    "img": _Finder._img,
    "source": _Finder._source,
    "picture": _Finder._picture,
    "video": _Finder._video,
    "meta": _Finder._meta,
    "link": _Finder._link,
    "style": _Finder._style,
}


def _looks_like_video(url: str) -> bool:
    """True when the URL's path ends like a video file (a hint; the bytes decide)."""
    return urlsplit(url).path.lower().endswith(VIDEO_SUFFIXES)


def srcset(value: str) -> list[str]:
    """Return the URLs of a ``srcset`` attribute (candidates split as the HTML standard says)."""
    found: list[str] = []
    pos, size = 0, len(value)
    while pos < size:
        while pos < size and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        start = pos
        while pos < size and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            while pos < size and value[pos] != ",":
                pos += 1
        if url:
            found.append(url)
    return found


def find(html: str, base: str, max_pages: int, max_images: int) -> Found:
    """Parse ``html`` and return its links and images, stopping once both caps are reached."""
    finder = _Finder(base, max_pages, max_images)
    for start in range(0, len(html), _CHUNK):
        finder.feed(html[start : start + _CHUNK])
        if finder.full:
            finder.found.truncated = True
            break
    finder.close()
    return finder.found


def decode_html(body: bytes, content_type: str) -> str:
    """Decode a page with its declared charset (header, then ``<meta>``), else UTF-8."""
    declared = re.search(r"charset\s*=\s*['\"]?([A-Za-z0-9_\-]+)", content_type, re.IGNORECASE)
    match = declared.group(1).encode() if declared else None
    if match is None:
        meta = _META_CHARSET.search(body[:2048])
        match = meta.group(1) if meta else None
    encoding = "utf-8"
    if match is not None:
        try:
            encoding = codecs.lookup(match.decode("ascii")).name
        except LookupError:
            encoding = "utf-8"
    return body.decode(encoding, errors="replace")


def links_of(
    body: bytes, content_type: str, entry: Entry, plan: Plan
) -> tuple[list[Link], Counter[str]]:
    """Return the links of a page to add to the frontier, and why others were dropped."""
    limits = plan.limits
    found = find(
        decode_html(body, content_type),
        entry.url,
        limits.max_links_per_page,
        limits.max_images_per_page,
    )
    dropped: Counter[str] = Counter()
    if found.truncated:
        dropped["links_per_page"] += 1
    links: dict[str, Link] = {}
    for raw in found.images:
        url = urls.normalise(raw)
        if url is not None and url not in links:
            links[url] = Link(url, Kind.IMAGE, entry.depth + 1, entry.url)
    for raw in found.pages:
        url = urls.normalise(raw)
        if url is None or url in links:
            continue
        reason = _page_refusal(url, entry, plan, found.nofollow)
        if reason is None:
            links[url] = Link(url, Kind.PAGE, entry.depth + 1, entry.url)
        else:
            dropped[reason] += 1
    return _trap_free(links.values(), limits.max_path_depth, dropped), dropped


def _page_refusal(url: str, entry: Entry, plan: Plan, nofollow: bool) -> str | None:
    if nofollow:
        return "nofollow"
    if entry.depth + 1 > plan.limits.max_depth:
        return "max_depth"
    if not plan.scope.allows(urls.host_of(url)):
        return "out_of_scope"
    return None


def _trap_free(links: Iterable[Link], max_path_depth: int, dropped: Counter[str]) -> list[Link]:
    kept = []
    for link in links:
        reason = urls.path_trap(link.url, max_path_depth)
        if reason is None:
            kept.append(link)
        else:
            dropped[reason] += 1
    return kept


async def extract(item: Item, ctx: Context) -> None:
    """The extract step: read a page's links and images into the item."""
    response = item.response
    if response is None or response.content != "html":
        return
    if item.entry.kind is Kind.IMAGE:
        raise Skip("not_an_image", "an image URL answered with a web page")
    links, dropped = await asyncio.to_thread(
        links_of, response.body, response.header("content-type"), item.entry, item.plan
    )
    item.links = links
    item.dropped.update(dropped)

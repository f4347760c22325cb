"""The benchmark's web site: a 4-ary tree of pages showing four images each, all made from the URL.

Page ``p`` links to pages ``4p+1 … 4p+4`` and back to its parent (a duplicate
link), and shows four images through ``<img src>``, ``srcset``, a CSS
background and a link to the file. Image URLs have no file extension, so the
linked one is queued as a page and recognised by its bytes (crawls get
``max_pages`` = 2 × pages for that reason). Image ``i`` of ``pages × 4 × 0.8``
distinct ones is shown on one or two pages (URL duplicates); every 10th page
also shows a ``/mirror/`` URL serving the same bytes as an ``/img/`` one
(content duplicates). One image in five (``i % 5 == 0``) is a re-post of a
registered photo: the original resized to 90% and re-compressed at quality 70.

The server runs in its own process so it does not share the crawler's GIL;
``/__hits`` returns its hit counts as JSON and ``/__reset`` clears them.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from PIL import Image, ImageDraw

from tests.crawler.site import Answer, Site, html, image, text

SIZE = (1024, 768)


def picture(number: int) -> Image.Image:
    """Draw picture ``number``: smooth colour fields and discs, distinct for every number."""
    rng = np.random.default_rng(number)
    width, height = SIZE
    coarse = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    fine = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    base = Image.fromarray(coarse).resize(SIZE, Image.Resampling.BICUBIC)
    detail = Image.fromarray(fine).resize(SIZE, Image.Resampling.BICUBIC)
    result = Image.blend(base, detail, 0.4)
    draw = ImageDraw.Draw(result)
    for _ in range(6):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.2) * height
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3))
        )
    return result


def jpeg(image_: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image_.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def is_repost(number: int) -> bool:
    return number % 5 == 0


def original(number: int) -> bytes:
    """The registered photo behind re-post ``number``."""
    return jpeg(picture(number), 95)


def served(number: int) -> bytes:
    """The bytes the site serves for image ``number``."""
    if is_repost(number):
        small = picture(number).resize((SIZE[0] * 9 // 10, SIZE[1] * 9 // 10))
        return jpeg(small, 70)
    return jpeg(picture(number), 85)


@dataclass(frozen=True)
class Layout:
    pages: int

    @property
    def images(self) -> int:
        return self.pages * 4 * 4 // 5

    def shown(self, page: int) -> list[str]:
        """The image paths page ``page`` shows."""
        paths = [f"/img/{(page * 4 + slot) % self.images}" for slot in range(4)]
        if page % 10 == 0:
            paths[3] = f"/mirror/{(page * 4 + 3) % self.images}"
        return paths

    def page(self, page: int) -> str:
        children = [c for c in range(4 * page + 1, 4 * page + 5) if c < self.pages]
        links = "".join(f'<a href="/p/{c}">page {c}</a>' for c in children)
        links += f'<a href="/p/{(page - 1) // 4 if page else 0}">up</a>'
        a, b, c, d = self.shown(page)
        images = (
            f'<img src="{a}" alt=""><img srcset="{b} 1x" alt="">'
            f'<div style="background-image: url(\'{c}\')"></div><a href="{d}">full</a>'
        )
        return f"<!doctype html><html><body><h1>Page {page}</h1>{images}{links}</body></html>"

    def all_urls(self) -> set[str]:
        pages = {f"/p/{p}" for p in range(self.pages)}
        return pages | {path for p in range(self.pages) for path in self.shown(p)}


def _route(layout: Layout, images: dict[int, bytes], site: list[Site]) -> Any:
    def route(path: str) -> Answer | None:
        if path == "/robots.txt":
            return text("User-agent: *\nAllow: /\n")
        if path in ("/__hits", "/__reset"):
            if path == "/__reset":
                site[0].hits.clear()
            return Answer(200, json.dumps(site[0].page_hits()).encode(), {})
        kind, _, number = path.strip("/").partition("/")
        if not number.isdigit():
            return None
        if kind == "p" and int(number) < layout.pages:
            return html(layout.page(int(number)))
        if kind in ("img", "mirror") and int(number) in images:
            return image(images[int(number)])
        return None

    return route


def _serve(layout: Layout, images: dict[int, bytes], ready: Any, port: Any) -> None:
    holder: list[Site] = []
    site = Site(_route(layout, images, holder))
    holder.append(site)
    port.value = site.server.server_address[1]
    ready.set()
    site.server.serve_forever()


@contextmanager
def serving(layout: Layout, images: dict[int, bytes]) -> Iterator[str]:
    """Run the site in a forked process; yield its base URL."""
    context = mp.get_context("fork")
    ready, port = context.Event(), context.Value("i", 0)
    process = context.Process(target=_serve, args=(layout, images, ready, port), daemon=True)
    process.start()
    ready.wait(60)
    try:
        yield f"http://127.0.0.1:{port.value}"
    finally:
        process.kill()
        process.join(10)


def hits(base: str, reset: bool = False) -> dict[str, int]:
    """The server's hit counts per URL (without robots.txt and these calls)."""
    answer = httpx.get(base + ("/__reset" if reset else "/__hits"), timeout=30)
    counts: dict[str, int] = answer.json()
    return {k: v for k, v in counts.items() if not k.startswith("/__")}

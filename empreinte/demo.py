"""Show the whole loop on the embedded default: fingerprint, register, crawl, match, notice.

``empreinte demo`` plays every part on this machine, with the sample photos
shipped in ``samples/`` (drawn by ``tools/make_samples.py``, free of any licence):

1. a victim fingerprints the originals (in memory, as ``empreinte hash`` would);
2. an NGO opens a case and registers the fingerprints;
3. a demo site on 127.0.0.1 serves pages with re-posts (re-compressed, resized,
   mirrored, and inside a phone screenshot) and unrelated pictures;
4. the crawler walks the site, matches every image, records sightings and
   drafts takedown notices;
5. the matches are printed with the box where each photo was found.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from sqlalchemy import select

from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.runtime import Runtime
from empreinte.settings import Settings
from empreinte.store import registry

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _jpeg(image: Image.Image, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _screenshot(photo: Image.Image, caption: str) -> Image.Image:
    """Put ``photo`` in a phone-like feed post: status bar, caption, buttons."""
    canvas = Image.new("RGB", (720, 1400), (250, 250, 250))
    inner = ImageOps.contain(photo, (680, 900))
    canvas.paste(inner, (20, 240))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 720, 110), fill=(30, 30, 30))
    draw.text((40, 160), caption, fill=(0, 0, 0))
    draw.rectangle((0, 1300, 720, 1400), fill=(235, 235, 235))
    return canvas


def reposts(originals: list[Image.Image]) -> dict[str, bytes]:
    """Return the demo site's images by path: re-posts of the originals and unrelated ones."""
    images: dict[str, bytes] = {}
    for i, photo in enumerate(originals):
        images[f"/img/repost-{i}.jpg"] = _jpeg(photo.resize((480, 360)), quality=60)
        images[f"/img/mirror-{i}.jpg"] = _jpeg(ImageOps.mirror(photo))
        images[f"/img/screenshot-{i}.jpg"] = _jpeg(_screenshot(photo, "lol look at this"))
    rng = np.random.default_rng(7)
    for i in range(4):
        noise = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        unrelated = Image.fromarray(noise).resize((640, 480), Image.Resampling.BICUBIC)
        images[f"/img/unrelated-{i}.jpg"] = _jpeg(unrelated)
    return images


def _pages(images: dict[str, bytes]) -> dict[str, bytes]:
    paths = sorted(images)
    half = len(paths) // 2
    links = '<a href="/thread/2">next page</a>'
    first = "".join(f'<img src="{p}">' for p in paths[:half])
    second = "".join(f'<p><img src="{p}" alt="post"></p>' for p in paths[half:])
    return {
        "/": f"<html><body><h1>Leaks board</h1>{links}{first}</body></html>".encode(),
        "/thread/2": f"<html><body>{second}</body></html>".encode(),
        "/robots.txt": b"User-agent: *\nAllow: /\n",
    }


@contextmanager
def demo_site(images: dict[str, bytes]) -> Iterator[str]:
    """Serve the demo pages and images on a free loopback port; yield the base URL."""
    pages = _pages(images)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path) or images.get(self.path)
            if body is None:
                self.send_error(404)
                return
            kind = "image/jpeg" if self.path.startswith("/img/") else "text/html"
            if self.path == "/robots.txt":
                kind = "text/plain"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(data_dir: Path, out: TextIO) -> int:
    """Play the demo with its database in ``data_dir``; return how many re-posts were found."""
    paths = sorted(SAMPLES.glob("*.jpg"))[:3]
    settings = Settings(data_dir=data_dir, workers=False, allow_loopback=True)
    with Runtime(settings, background=False) as runtime:
        return _play(runtime, paths, out)


def _play(runtime: Runtime, paths: list[Path], out: TextIO) -> int:
    from empreinte.crawler.cli import crawl_command
    from empreinte.store.models.notices import Notice, Sighting

    originals = [Image.open(p).convert("RGB") for p in paths]
    sessions = runtime.sessions
    records = [fingerprint_bytes(p.read_bytes()) for p in paths]
    names = {str(r.id): p.name for r, p in zip(records, paths, strict=True)}
    print(f"1. The victim fingerprints {len(records)} photos on their computer.", file=out)
    with sessions.begin() as session:
        org = registry.get_or_create_organisation(session, "Demo help line", "ngo")
        case, _ = registry.open_case(session, org.id)
        result = registry.attach_fingerprints(session, case, records)
        number = case.case_number
    print(
        f"2. The help line opens case {number}: {result.accepted} fingerprints registered.",
        file=out,
    )
    images = reposts(originals)
    with demo_site(images) as base:
        print(
            f"3. A demo site at {base} serves {len(images)} images: re-posts and others.", file=out
        )
        print("4. The crawler walks the site:", file=out)
        crawl_command(runtime, [base + "/"], 2, 50, out=out)
    with sessions() as session:
        rows = session.execute(
            select(Sighting, Notice).join(Notice, Notice.sighting_id == Sighting.id)
        ).all()
    print("5. What was found, and the notices drafted for the help line to approve:", file=out)
    for sighting, notice in sorted(rows, key=lambda r: r[0].url):
        where = sighting.url.split("/img/")[-1]
        evidence = (
            f"{sighting.signal} distance {sighting.distance}"
            if sighting.inliers is None
            else f"{sighting.signal} {sighting.inliers} inliers"
        )
        print(
            f"   {where:<20} is {names.get(sighting.fingerprint_id, '?'):<13} "
            f"({evidence}, box {sighting.box}) -> notice {notice.reference} {notice.status}",
            file=out,
        )
    return len(rows)

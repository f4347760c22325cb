"""Serve a folder (and a few extra byte routes) on loopback, logging every request.

The log lets a test prove what a page sent: method, path, Host header and
the request body, for every request the server received.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TYPES = {".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html"}


@dataclass(frozen=True, slots=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    host: str
    body: bytes


@dataclass(slots=True)
class StaticSite:
    """A running loopback site: its base URL, extra routes, and the requests it received."""

    base: str
    log: list[Request] = field(default_factory=list)
    files: dict[str, Path | bytes] = field(default_factory=dict)

    def add(self, path: str, content: Path | bytes) -> str:
        """Serve ``content`` (a file read by path, or bytes) at ``path``; return the path."""
        self.files[path] = content
        return path


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - http.server's own per-class table
        **SimpleHTTPRequestHandler.extensions_map,
        **_TYPES,
    }

    def __init__(self, *args: object, site: StaticSite, **kw: object):
        self.site = site
        super().__init__(*args, **kw)  # type: ignore[arg-type]

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self.site.log.append(Request(self.command, self.path, self.headers.get("Host", ""), body))

    def do_GET(self) -> None:
        self._record()
        extra = self.site.files.get(self.path.split("?", 1)[0])
        if extra is None:
            super().do_GET()
            return
        data = extra if isinstance(extra, bytes) else extra.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self._record()
        self.send_error(405)

    def do_PUT(self) -> None:
        self.do_POST()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: the request log is kept in :class:`StaticSite`."""


@contextmanager
def serve(root: Path, files: Mapping[str, Path | bytes] | None = None) -> Iterator[StaticSite]:
    """Serve ``root`` (and ``files``: URL path -> file or bytes) on 127.0.0.1; yield the site."""
    site = StaticSite("", files=dict(files or {}))
    handler = partial(_Handler, site=site, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

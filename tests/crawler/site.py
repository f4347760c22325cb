"""A real web site on loopback for crawler tests and the benchmark, counting hits per URL.

A route maps a path (with its query) to an :class:`Answer`, or None for 404.
Bodies may be bytes or an iterator of chunks (sent with chunked encoding, so
a 2 GB body is produced as it is read, never held). The server is
``http.server.ThreadingHTTPServer`` in a daemon thread, speaking HTTP/1.1
with keep-alive; clients that hang up mid-body are ignored quietly.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0


Route = Callable[[str], "Answer | None"]


def html(text: str) -> Answer:
    return Answer(200, text.encode(), {"Content-Type": "text/html; charset=utf-8"})


def image(data: bytes, content_type: str = "image/jpeg") -> Answer:
    return Answer(200, data, {"Content-Type": content_type})


def redirect(location: str, status: int = 302) -> Answer:
    return Answer(status, b"", {"Location": location})


def text(body: str, status: int = 200) -> Answer:
    return Answer(status, body.encode(), {"Content-Type": "text/plain"})


def endless(total: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """Yield ``total`` bytes of an HTML-looking body, one chunk at a time."""
    block = b"<html>" + b"x" * (chunk - 6)
    sent = 0
    while sent < total:
        yield block
        sent += len(block)


class Site:
    """Serve ``route`` on 127.0.0.1; count every request by path and query."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.hits: Counter[str] = Counter()
        self.agents: Counter[str] = Counter()
        self.times: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def record(self, path: str, agent: str = "") -> None:
        with self._lock:
            self.hits[path] += 1
            self.agents[agent] += path != "/robots.txt"
            self.times.setdefault(path, []).append(time.monotonic())

    def page_hits(self) -> Counter[str]:
        """Hits on everything but robots.txt."""
        with self._lock:
            return Counter({k: v for k, v in self.hits.items() if k != "/robots.txt"})

    @contextmanager
    def running(self) -> Iterator[Site]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=10)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client hangs up (the crawler aborts bodies on purpose)."""


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            site.record(self.path, self.headers.get("User-Agent", ""))
            answer = site.route(self.path) or text("not found", 404)
            try:
                self._send(answer)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if isinstance(answer.body, bytes) and not answer.drip:
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                return
            if answer.drip:
                self._drip(answer)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in answer.body:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

        def _drip(self, answer: Answer) -> None:
            body = answer.body if isinstance(answer.body, bytes) else b"".join(answer.body)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for index in range(len(body)):
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                time.sleep(answer.drip)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler

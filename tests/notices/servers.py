"""Real loopback servers for the notices tests: a webhook receiver, a web host, an SMTP server."""

from __future__ import annotations

import email
import email.policy
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from tests.servers import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A platform's webhook endpoint: records every POST; answers from ``answers``, then 200.

    ``hold`` (an Event) makes it wait before answering, ``delay`` sleeps first;
    ``on_request`` is called with each request as soon as it has arrived.
    """

    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    on_request: Callable[[Received], None] | None = None
    hold: threading.Event | None = None
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(r.headers["idempotency-key"] for r in self.requests)

    def unique(self) -> dict[str, Received]:
        """What a receiver that drops repeated idempotency keys keeps."""
        with self.lock:
            kept: dict[str, Received] = {}
            for r in self.requests:
                kept.setdefault(r.headers["idempotency-key"], r)
            return kept


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            item = Received({k.lower(): v for k, v in self.headers.items()}, body)
            with receiver.lock:
                receiver.requests.append(item)
                status = receiver.answers.pop(0) if receiver.answers else 200
            if receiver.on_request is not None:
                receiver.on_request(item)
            if receiver.hold is not None:
                receiver.hold.wait(30)
            time.sleep(receiver.delay)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], tls: Any = None) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port in a thread; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def webhook(receiver: Receiver | None = None, tls: Any = None) -> Iterator[Receiver]:
    receiver = receiver or Receiver()
    with serving(_handler(receiver), tls) as base:
        receiver.url = f"{base}/hooks/notices"
        yield receiver


@dataclass
class Site:
    """A web host on loopback: ``pages[path] = (status, content type, body)``; else 404."""

    pages: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    port: int = 0

    def transport(self) -> httpx.HTTPTransport:
        """An httpx transport that sends every request here, whatever the URL's host."""
        return _ToLoopback(self.port)


class _ToLoopback(httpx.HTTPTransport):
    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return super().handle_request(request)


@contextmanager
def site() -> Iterator[Site]:
    pages = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, kind, body = pages.pages.get(self.path.split("?")[0], (404, "text/plain", b""))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        pages.port = int(base.rsplit(":", 1)[1])
        yield pages


@dataclass
class Mailbox:
    """What the loopback SMTP server received; ``refuse`` makes it answer 550 to DATA."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: bool = False
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "550 5.7.1 Message refused by policy"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def message_ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)


@contextmanager
def smtp(refuse: bool = False) -> Iterator[Mailbox]:
    box = Mailbox(refuse=refuse)
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def self_signed(folder: Path) -> tuple[Path, Path] | None:
    """Make a self-signed certificate for 127.0.0.1 with the openssl CLI; None without it."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return cert, key

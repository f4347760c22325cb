"""Holes 2 and 11: webhooks and re-checks reach public addresses only, and never the logs."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.logs import configure_logging
from empreinte.notices import review
from empreinte.notices.errors import FetchError
from empreinte.notices.service import record_sighting
from empreinte.notices.worker import WorkerConfig, run_once, standard_worker
from empreinte.store.models.notices import Contact, Delivery, Notice, NoticeCheck, NoticeStatus
from tests.api.conftest import Api
from tests.notices.conftest import T0, World, make_world
from tests.notices.servers import webhook
from tests.security.helpers import is_problem
from tests.servers import free_port

SSRF = [
    "http://127.0.0.1:9/hook",
    "http://[::1]:9/hook",
    "http://[::ffff:127.0.0.1]:9/hook",
    "http://0x7f000001:9/hook",
    "http://2130706433:9/hook",
    "http://0177.0.0.1:9/hook",
    "http://localhost:9/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://user:pass@hooks.photoshare.example/hook",
    "ftp://hooks.photoshare.example/hook",
    "javascript:alert(1)",
    "http://hooks.photoshare.example/" + "x" * 10_000,
]


@pytest.mark.parametrize("url", SSRF)
def test_webhook_to_a_private_or_bad_address_is_refused_at_registration(
    sqlite_api: Api, url: str
) -> None:
    ngo = sqlite_api.client(sqlite_api.ngo_a)
    answer = ngo.post(
        "/v1/contacts", json={"domain": "photoshare.example", "role": "host", "webhook_url": url}
    )
    assert is_problem(answer, 422), answer.text[:300]
    assert ngo.get("/v1/contacts").json() == []


def _approved(world: World, url: str) -> None:
    with world.sessions.begin() as session:
        match = world.match(session, world.records[0])
        record_sighting(session, match=match, url=url, page_url=None, source="crawler", now=T0)
        notice = session.scalars(select(Notice)).one()
        review.approve(session, notice, actor="key:r", now=T0)


def _smuggle(sessions: sessionmaker[Session], url: str, domain: str) -> None:
    """Write a contact as a bug or an old version might have let in, past every check."""
    with sessions.begin() as session:
        session.add(
            Contact(
                domain=domain,
                role="host",
                webhook_url=url,
                webhook_secret="s3cret-for-tests-only",
                language="en",
                created_at=T0,
                verified_at=T0,
            )
        )


def test_a_smuggled_loopback_webhook_is_refused_at_delivery_with_no_oracle(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    world = make_world(sqlite_sessions)
    closed = f"http://127.0.0.1:{free_port()}/hook"
    with webhook() as receiver:
        _smuggle(world.sessions, receiver.url, "photoshare.example")
        _smuggle(world.sessions, closed, "cdn.photoshare.example")
        _approved(world, "https://cdn.photoshare.example/a.jpg")
        worker = standard_worker(world.sessions)
        done = run_once(world.sessions, worker.channels, worker.fetcher, T0, WorkerConfig())
        worker.stop()
        assert receiver.requests == [], "the loopback listener saw no connection"
    assert done.sent == 0 and done.failed == 2
    with world.sessions() as session:
        errors = {d.last_error for d in session.scalars(select(Delivery))}
    assert errors == {"the webhook's host is not a public address"}, "open and closed look alike"


@contextmanager
def _listener_v6() -> Iterator[tuple[int, list[int]]]:
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    sock.listen()
    sock.settimeout(0.2)
    seen: list[int] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            seen.append(1)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(2)
        sock.close()


@contextmanager
def _redirector(target: str) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/img.jpg"
    finally:
        server.shutdown()
        server.server_close()


def test_a_recheck_that_redirects_to_loopback_is_refused_and_recorded(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    world = make_world(sqlite_sessions)
    with _listener_v6() as (port, seen), _redirector(f"http://[::1]:{port}/x") as start:
        worker = standard_worker(world.sessions, allow_loopback=True)
        with pytest.raises(FetchError, match="non-public"):
            worker.fetcher.fetch(start)
        with world.sessions.begin() as session:
            match = world.match(session, world.records[0])
            record_sighting(session, match=match, url=start, page_url=None, source="crawler")
            notice = session.scalars(select(Notice)).one()
            notice.status = NoticeStatus.SENT.value
            notice.next_check_at = T0
        later = T0 + dt.timedelta(minutes=1)
        run_once(world.sessions, worker.channels, worker.fetcher, later, WorkerConfig())
        worker.stop()
    assert seen == [], "nothing ever connected to [::1]"
    with world.sessions() as session:
        [check] = session.scalars(select(NoticeCheck)).all()
    assert check.outcome == "error" and "non-public" in (check.detail or "")


def test_no_webhook_or_image_url_is_logged_at_info(
    sqlite_sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging()
    world = make_world(sqlite_sessions)
    with webhook() as receiver, caplog.at_level(logging.INFO):
        _smuggle(world.sessions, receiver.url, "photoshare.example")
        _approved(world, "https://cdn.photoshare.example/secret-leak.jpg")
        worker = standard_worker(world.sessions, allow_loopback=True)
        done = run_once(world.sessions, worker.channels, worker.fetcher, T0, WorkerConfig())
        worker.stop()
    assert done.sent == 1
    text = "\n".join(r.getMessage() for r in caplog.records if r.levelno <= logging.INFO)
    assert receiver.url not in text and "secret-leak" not in text
    logging.getLogger().handlers.clear()

"""Deliveries reach real loopback servers, are retried with backoff, and never go out twice."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.notices import outbox, review
from empreinte.notices.channels import verify
from empreinte.notices.fetch import FetchResult
from empreinte.notices.service import record_sighting
from empreinte.notices.worker import WorkerConfig, run_once
from empreinte.store.models.notices import Delivery, Notice
from tests.notices.conftest import T0, World, add_contacts, channels, make_world, withdraw
from tests.notices.servers import Receiver, self_signed, smtp, webhook
from tests.servers import free_port

URL = "https://cdn.photoshare.example/i/abc.jpg"
CONFIG = WorkerConfig(backoff=dt.timedelta(seconds=30), max_attempts=4)


class NoFetch:
    """A fetcher for tests that never re-check (no notice is due)."""

    def fetch(self, url: str) -> FetchResult:
        raise AssertionError(f"unexpected fetch of {url}")


def approved_notice(world: World, at: dt.datetime = T0) -> str:
    with world.sessions.begin() as session:
        match = world.match(session, world.records[0], distance=4)
        record_sighting(
            session,
            match=match,
            url=URL,
            page_url="https://photoshare.example/p/1",
            source="crawler",
            now=at,
        )
        notice = session.scalars(select(Notice)).one()
        review.approve(session, notice, actor="key:reviewer", now=at)
        return notice.id


def deliveries(sessions: sessionmaker[Session]) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> World:
    return make_world(sessions)


@pytest.fixture
def lite(sqlite_sessions: sessionmaker[Session]) -> World:
    """A world on SQLite only, for what depends on the transport, not on the database."""
    return make_world(sqlite_sessions)


def test_webhook_and_email_are_signed_keyed_and_sent_once(world: World) -> None:
    with webhook() as receiver, smtp() as mailbox:
        add_contacts(world, webhook=receiver.url, mail="abuse@photoshare.example", language="fr")
        notice_id = approved_notice(world)
        chans, client = channels(mailbox.port)
        sent_at = T0 + dt.timedelta(seconds=20)
        first = run_once(world.sessions, chans, NoFetch(), sent_at, CONFIG)
        again = run_once(world.sessions, chans, NoFetch(), sent_at + dt.timedelta(hours=1), CONFIG)
        client.close()
    assert (first.sent, first.failed, again.sent) == (2, 0, 0)
    [request] = receiver.requests
    body, headers = request.body, request.headers
    expected = hmac.new(
        b"s3cret-for-tests-only",
        headers["empreinte-timestamp"].encode() + b"." + body,
        hashlib.sha256,
    ).hexdigest()
    assert headers["empreinte-signature"] == f"sha256={expected}"
    assert verify(
        "s3cret-for-tests-only",
        headers["empreinte-timestamp"],
        body,
        headers["empreinte-signature"],
        now=float(headers["empreinte-timestamp"]),
    )
    payload = json.loads(body)
    reference = payload["notice"]["reference"]
    assert headers["idempotency-key"] == payload["delivery"]["idempotency_key"]
    assert headers["idempotency-key"].startswith(f"{reference}.r0.")
    [mail] = mailbox.messages
    assert mail["Message-ID"].startswith(f"<{reference}.r0.")
    assert mail["Subject"].startswith(f"Notification de retrait {reference}")
    text = mail.get_body(("plain",))
    assert text is not None and "NOTIFICATION DE RETRAIT" in text.get_content()
    attachment = next(mail.iter_attachments())
    assert json.loads(attachment.get_content())["notice"]["reference"] == reference
    with world.sessions() as session:
        notice = session.get_one(Notice, notice_id)
        assert notice.status == "sent"
        assert notice.sent_at is not None and notice.sent_at.replace(tzinfo=dt.UTC) == sent_at
        assert notice.next_check_at is not None
        assert notice.next_check_at.replace(tzinfo=dt.UTC) == sent_at + dt.timedelta(hours=24)


def test_a_500_is_retried_with_backoff_and_accepted_once(world: World) -> None:
    with webhook(Receiver(answers=[500, 503])) as receiver:
        add_contacts(world, webhook=receiver.url)
        approved_notice(world)
        chans, client = channels()
        times = [T0, T0 + dt.timedelta(seconds=10), T0 + dt.timedelta(seconds=31)]
        times += [T0 + dt.timedelta(seconds=60), T0 + dt.timedelta(seconds=92)]
        times += [T0 + dt.timedelta(hours=2)]
        passes = [run_once(world.sessions, chans, NoFetch(), t, CONFIG) for t in times]
        client.close()
    assert [(p.sent, p.failed) for p in passes] == [(0, 1), (0, 0), (0, 1), (0, 0), (1, 0), (0, 0)]
    [row] = deliveries(world.sessions)
    assert (row.status, row.attempts) == ("sent", 3)
    keys = receiver.counts()
    assert list(keys.values()) == [3] and len(receiver.unique()) == 1


def test_an_unreachable_webhook_is_retried_then_given_up(lite: World) -> None:
    add_contacts(lite, webhook=f"http://127.0.0.1:{free_port()}/hook")
    notice_id = approved_notice(lite)
    chans, client = channels(timeout=2)
    moments = [T0 + dt.timedelta(hours=h) for h in range(6)]
    for moment in moments:
        run_once(lite.sessions, chans, NoFetch(), moment, CONFIG)
    client.close()
    [row] = deliveries(lite.sessions)
    assert (row.status, row.attempts) == ("failed", 4)
    assert row.last_error is not None and "unreachable" in row.last_error
    with lite.sessions() as session:
        assert session.get_one(Notice, notice_id).status == "approved"


def test_a_timeout_is_retried_and_the_key_lets_the_receiver_drop_the_copy(lite: World) -> None:
    with webhook(Receiver(delay=1.5)) as receiver:
        add_contacts(lite, webhook=receiver.url)
        approved_notice(lite)
        chans, client = channels(timeout=0.5)
        slow = run_once(lite.sessions, chans, NoFetch(), T0, CONFIG)
        receiver.delay = 0
        later = run_once(lite.sessions, chans, NoFetch(), T0 + dt.timedelta(minutes=1), CONFIG)
        client.close()
    assert (slow.failed, later.sent) == (1, 1)
    assert "timed out" in slow.errors[0]
    assert list(receiver.counts().values()) == [2]
    assert len(receiver.unique()) == 1


def test_a_4xx_answer_is_not_retried(lite: World) -> None:
    with webhook(Receiver(answers=[404])) as receiver:
        add_contacts(lite, webhook=receiver.url)
        approved_notice(lite)
        chans, client = channels()
        for minutes in (0, 5, 60):
            run_once(lite.sessions, chans, NoFetch(), T0 + dt.timedelta(minutes=minutes), CONFIG)
        client.close()
    [row] = deliveries(lite.sessions)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "webhook answered 404")
    assert len(receiver.requests) == 1


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[ssl.SSLContext]:
    made = self_signed(tmp_path)
    if made is None:
        pytest.skip("neither the cryptography package nor the openssl command is available")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*made)
    yield context


def test_a_bad_tls_certificate_is_never_trusted(lite: World, tls: ssl.SSLContext) -> None:
    with webhook(tls=tls) as receiver:
        add_contacts(lite, webhook=receiver.url)
        approved_notice(lite)
        chans, client = channels()
        done = run_once(lite.sessions, chans, NoFetch(), T0, CONFIG)
        client.close()
    assert done.failed == 1 and receiver.requests == []
    [row] = deliveries(lite.sessions)
    assert row.status == "pending"
    assert row.last_error is not None and "CERTIFICATE_VERIFY_FAILED" in row.last_error


def test_an_smtp_refusal_fails_the_email_but_not_the_webhook(lite: World) -> None:
    with webhook() as receiver, smtp(refuse=True) as mailbox:
        add_contacts(lite, webhook=receiver.url, mail="abuse@photoshare.example")
        notice_id = approved_notice(lite)
        chans, client = channels(mailbox.port)
        run_once(lite.sessions, chans, NoFetch(), T0, CONFIG)
        run_once(lite.sessions, chans, NoFetch(), T0 + dt.timedelta(hours=1), CONFIG)
        client.close()
    rows = {row.channel: row for row in deliveries(lite.sessions)}
    assert (rows["email"].status, rows["email"].attempts) == ("failed", 1)
    assert "550" in (rows["email"].last_error or "")
    assert rows["webhook"].status == "sent" and len(receiver.requests) == 1
    assert mailbox.messages == []
    with lite.sessions() as session:
        assert session.get_one(Notice, notice_id).status == "sent"


def test_a_withdrawn_case_cancels_the_notice_before_anything_is_sent(world: World) -> None:
    with webhook() as receiver, smtp() as mailbox:
        add_contacts(world, webhook=receiver.url, mail="abuse@photoshare.example")
        notice_id = approved_notice(world)
        withdraw(world)
        with world.sessions.begin() as session:
            claimed = outbox.claim(session, T0, lease=CONFIG.lease, limit=10)
        chans, client = channels(mailbox.port)
        done = run_once(world.sessions, chans, NoFetch(), T0 + dt.timedelta(hours=1), CONFIG)
        client.close()
    assert claimed == [] and done.sent == 0
    assert receiver.requests == [] and mailbox.messages == []
    assert {row.status for row in deliveries(world.sessions)} == {"cancelled"}
    with world.sessions() as session:
        assert session.get_one(Notice, notice_id).status == "cancelled"

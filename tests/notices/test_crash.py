"""kill -9 during delivery loses nothing and sends nothing twice once a send is recorded.

A child process delivers five approved notices to a loopback webhook and is
killed with SIGKILL at the third: before it sends (``before``), while the
receiver holds the request unanswered (``mid``), or after the receiver accepted
it but before the child recorded it (``after``). A new worker then finishes.
The receiver drops repeated idempotency keys, as platforms are asked to.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.notices import review
from empreinte.notices.service import record_sighting
from empreinte.notices.worker import WorkerConfig, run_once
from empreinte.store.models.notices import Delivery, Notice
from tests.notices.conftest import T0, add_contacts, channels, make_world
from tests.notices.servers import Received, Receiver, webhook
from tests.notices.test_delivery import NoFetch

KILLED_AT = T0 + dt.timedelta(minutes=1)
CONFIG = WorkerConfig()

_CHILD = textwrap.dedent(
    """
    import datetime as dt, os, signal, sys
    import httpx
    from empreinte.notices.channels import WebhookChannel
    from empreinte.notices.worker import run_once
    from empreinte.store.db import make_engine, make_sessionmaker

    url, mode, now = sys.argv[1], sys.argv[2], dt.datetime.fromisoformat(sys.argv[3])

    class Killed:
        # The real webhook channel; SIGKILL at the third send, before or after it.
        def __init__(self, inner):
            self.inner, self.count = inner, 0

        def send(self, delivery):
            self.count += 1
            if self.count == 3 and mode == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            self.inner.send(delivery)
            if self.count == 3 and mode == "after":
                os.kill(os.getpid(), signal.SIGKILL)

    class NoFetch:
        def fetch(self, url):
            raise AssertionError(url)

    channel = Killed(WebhookChannel(httpx.Client(timeout=60)))
    run_once(make_sessionmaker(make_engine(url)), {"webhook": channel}, NoFetch(), now)
    print("finished without being killed", flush=True)
    """
)


def _approve_five(sessions: sessionmaker[Session], receiver_url: str) -> None:
    world = make_world(sessions)
    add_contacts(world, webhook=receiver_url)
    with sessions.begin() as session:
        for i in range(5):
            match = world.match(session, world.records[0], distance=2)
            record_sighting(
                session,
                match=match,
                url=f"https://cdn.photoshare.example/{i}.jpg",
                page_url=None,
                source="crawler",
                now=T0,
            )
        for notice in session.scalars(select(Notice)):
            review.approve(session, notice, actor="key:reviewer", now=T0)


def _sent_keys(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.status == "sent"))
        return {row.idempotency_key for row in rows}


def _all_keys(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Delivery.idempotency_key).order_by(Delivery.id)))


def _kill_child(db_url: str, mode: str, arrived: threading.Event) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, db_url, mode, KILLED_AT.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    if mode == "mid":
        assert arrived.wait(60), "the third request never arrived"
        child.send_signal(signal.SIGKILL)
    child.wait(60)
    return child


@pytest.mark.parametrize(
    ("db_url", "mode"),
    [("sqlite", "before"), ("sqlite", "mid"), ("sqlite", "after"), ("postgresql", "mid")],
    indirect=["db_url"],
)
def test_kill_9_mid_delivery_then_restart(
    db_url: str, sessions: sessionmaker[Session], mode: str
) -> None:
    arrived, release = threading.Event(), threading.Event()
    receiver = Receiver()

    def third_is_held(item: Received) -> None:
        if mode == "mid" and len(receiver.requests) == 3 and not arrived.is_set():
            arrived.set()
            release.wait(60)

    receiver.on_request = third_is_held
    with webhook(receiver):
        _approve_five(sessions, receiver.url)
        child = _kill_child(db_url, mode, arrived)
        release.set()
        assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
        recorded = _sent_keys(sessions)
        seen_before_restart = receiver.counts()
        chans, client = channels()
        early = run_once(sessions, chans, NoFetch(), KILLED_AT + dt.timedelta(seconds=10), CONFIG)
        restart = KILLED_AT + CONFIG.lease + dt.timedelta(seconds=1)
        late = run_once(sessions, chans, NoFetch(), restart, CONFIG)
        again = run_once(sessions, chans, NoFetch(), restart + dt.timedelta(minutes=5), CONFIG)
        client.close()
    keys = _all_keys(sessions)
    seen = receiver.counts()
    print(
        f"\n[{mode}] before kill: recorded sent {len(recorded)}, receiver saw "
        f"{sum(seen_before_restart.values())}; restart within lease sent {early.sent}; "
        f"after lease sent {late.sent}; receiver total {sum(seen.values())} requests, "
        f"{len(receiver.unique())} unique keys of {len(keys)}; copies dropped "
        f"{sum(seen.values()) - len(receiver.unique())}"
    )
    assert len(recorded) == 2
    assert early.sent == 0 and again.sent == 0
    assert _sent_keys(sessions) == set(keys) and len(keys) == 5
    assert set(receiver.unique()) == set(keys)
    for key in recorded:
        assert seen[key] == 1, "a send recorded as done was sent again"
    in_flight = keys[2]
    expected = 1 if mode == "before" else 2
    assert seen[in_flight] == expected
    assert sum(seen.values()) == 5 + expected - 1

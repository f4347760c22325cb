"""From a re-posted photo to its removal and the yearly report, on real loopback servers.

match -> sighting -> approved notice -> webhook and email received -> re-check
(still there: re-sent) -> re-check (gone) -> removed -> one row of the DSA report.
Run with ``-s`` to read the story.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import textwrap

import httpx
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.detection.service import match_image, prepare_image
from empreinte.hashing.decode import Limits
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.notices import report, review
from empreinte.notices.fetch import HttpFetcher
from empreinte.notices.service import record_sighting
from empreinte.notices.worker import run_once
from empreinte.store.models.notices import Notice
from tests.conftest import encode, photo
from tests.notices.conftest import T0, add_contacts, channels, make_world
from tests.notices.servers import site, smtp, webhook

LEAK = "https://cdn.photoshare.example/i/leak.jpg"
PAGE = "https://photoshare.example/u/someone/posts/42"


def _repost(original: Image.Image) -> bytes:
    """The re-post: resized and re-encoded, as platforms do."""
    smaller = original.resize((256, 192), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    smaller.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def test_from_repost_to_removal_and_report(sessions: sessionmaker[Session]) -> None:
    original = photo(7)
    world = make_world(sessions, [fingerprint_bytes(encode(original, quality=95))])
    with site() as pages, webhook() as receiver, smtp() as mailbox:
        pages.pages["/i/leak.jpg"] = (200, "image/jpeg", _repost(original))
        add_contacts(world, webhook=receiver.url, mail="abuse@photoshare.example", language="fr")
        fetch_client = httpx.Client(transport=pages.transport())
        fetcher = HttpFetcher(fetch_client)
        chans, client = channels(mailbox.port)

        body = fetcher.fetch(LEAK).body
        with sessions.begin() as session:
            found = match_image(
                session, world.follower.live, prepare_image(body, Limits()), source="crawler"
            )
            match = found[0]
            print(
                f"\n1. match: {match.signal} distance {match.distance} "
                f"inliers {match.inliers} confidence {match.confidence}"
            )
            sighting = record_sighting(
                session, match=match, url=LEAK, page_url=PAGE, source="crawler", now=T0
            )
            notice = session.scalars(select(Notice)).one()
            print(
                f"2. sighting: {sighting.url} on {sighting.page_url}, host {sighting.host}; "
                f"notice {notice.reference} is {notice.status}"
            )
            review.approve(session, notice, actor="key:reviewer", now=T0 + dt.timedelta(minutes=4))
            notice_id = notice.id
            print(f"3. approved by key:reviewer at {T0 + dt.timedelta(minutes=4):%H:%M}")

        run_once(world.sessions, chans, fetcher, T0 + dt.timedelta(minutes=4, seconds=2))
        [hook] = receiver.requests
        [mail] = mailbox.messages
        print(
            f"4. webhook received: Idempotency-Key {hook.headers['idempotency-key']}, "
            f"{hook.headers['empreinte-signature'][:23]}…, notice "
            f"{json.loads(hook.body)['notice']['reference']}"
        )
        print(f"   email received: {mail['Subject']} Message-ID {mail['Message-ID']}")
        text = mail.get_body(("plain",))
        assert text is not None
        print(textwrap.indent(text.get_content(), "   | "))

        run_once(world.sessions, chans, fetcher, T0 + dt.timedelta(hours=24, minutes=5))
        print(
            f"5. re-check at +24 h: still online, re-sent: "
            f"{sorted(receiver.counts())[-1]} (webhook), {mailbox.messages[-1]['Subject']}"
        )
        pages.pages["/i/leak.jpg"] = (410, "text/plain", b"gone")
        run_once(world.sessions, chans, fetcher, T0 + dt.timedelta(hours=48, minutes=5))
        fetch_client.close()
        client.close()

    with sessions() as session:
        done = session.get_one(Notice, notice_id)
        assert done.status == "removed" and done.sent_at and done.removed_at
        hours = (done.removed_at - done.sent_at).total_seconds() / 3600
        print(
            f"6. re-check at +48 h: the URL answers 410; notice {done.status}, "
            f"time to removal {hours:.2f} h"
        )
        yearly = report.yearly(session, 2026, now=T0 + dt.timedelta(days=3))
    [row] = yearly["rows"]
    print(f"7. yearly report row: {json.dumps(row)}")
    print(report.render_markdown(yearly))
    assert len(receiver.requests) == 2 and len(mailbox.messages) == 2
    assert row["action"] == "removed" and row["median_hours_to_removal"] == round(hours, 2)
    assert abs(hours - (48 + 1 / 60 - 2 / 3600)) < 1e-6

"""A real ``empreinte serve`` app on loopback with two NGOs, and Debian's Chromium to drive it.

NGO A (E-Enfance) has a case whose fingerprint the crawler found at several
loopback URLs (each a draft notice in the review queue); NGO B (Child Focus)
has its own case and sighting. A loopback web host serves the found images and
a loopback webhook receiver plays the platform. Playwright drives Chromium
(it cannot download its own browser here); every page's console errors are
collected and a test fails on any.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.detection.service import Query, match_queries
from empreinte.hashing.fingerprint import Fingerprint, fingerprint_bytes
from empreinte.hashing.signals import SignalType
from empreinte.notices import safety
from empreinte.notices.contacts import add_contact
from empreinte.notices.service import record_sighting
from empreinte.settings import Settings
from empreinte.store import migrate, registry, users
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.follow import Follower
from empreinte.store.models.notices import ContactRole, Notice
from tests.browsers.chromium import ARGS as CHROMIUM_ARGS
from tests.browsers.chromium import CHROMIUM as CHROMIUM_PATH
from tests.conftest import encode, photo
from tests.dbs import database_url
from tests.notices.servers import Receiver, site, webhook
from tests.servers import running_api
from tests.store.conftest import random_record

CHROMIUM = Path(CHROMIUM_PATH)
SHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
PASSWORD = "correct horse battery staple"
T0 = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
QUEUED = 12
"""Crawler sightings of NGO A waiting in the review queue."""
MARKUP = '?q="><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
"""The query of the last queued sighting's URL: markup that must show as text."""


@dataclass
class World:
    base: str
    settings: Settings
    sessions: sessionmaker[Session]
    receiver: Receiver
    image_base: str
    a_case: str
    a_case_number: str
    b_case: str
    b_notice: str
    a_notices: list[str] = field(default_factory=list)
    people: dict[str, str] = field(default_factory=dict)


def _match(session: Session, follower: Follower, record: Fingerprint) -> Any:
    pdq = record.get(SignalType.PDQ)
    assert pdq is not None
    found = match_queries(
        session, follower.live, [Query(SignalType.PDQ, pdq.value.raw)], source="crawler"
    )
    return next(f for f in found if f.fingerprint_id == str(record.id))


def _ngo(session: Session, name: str, record: Fingerprint) -> tuple[int, str, str]:
    org = registry.create_organisation(session, name, "ngo", contact_email="alerte@ngo.example")
    case, _pin = registry.open_case(session, org.id)
    registry.attach_fingerprints(session, case, [record])
    safety.set_policy(
        session,
        org.id,
        auto_approve=False,
        auto_approve_pdq_max=10,
        flood_urls=1000,
        flood_window_hours=24,
    )
    return org.id, case.id, case.case_number


def seed(sessions: sessionmaker[Session], image_base: str, hook: str) -> dict[str, Any]:
    """Register both NGOs, their people, a platform contact, and the crawler's sightings."""
    a_record = fingerprint_bytes(encode(photo(7), quality=95))
    b_record = random_record(np.random.default_rng(5))
    with sessions.begin() as session:
        _, a_case, a_number = _ngo(session, "E-Enfance", a_record)
        _, b_case, _ = _ngo(session, "Child Focus", b_record)
        platform = registry.create_organisation(session, "PhotoShare", "platform")
        add_contact(
            session,
            domain="photoshare.example",
            role=ContactRole.PLATFORM,
            webhook_url=hook,
            webhook_secret="s3cret-for-tests-only",
            platform_id=platform.id,
            allow_loopback=True,
        )
        people = {
            "admin": ("E-Enfance", users.UserRole.ORG_ADMIN, "admin@e-enfance.example"),
            "worker": ("E-Enfance", users.UserRole.CASE_WORKER, "cw@e-enfance.example"),
            "rev1": ("E-Enfance", users.UserRole.REVIEWER, "rev1@e-enfance.example"),
            "rev2": ("E-Enfance", users.UserRole.REVIEWER, "rev2@e-enfance.example"),
            "b_rev": ("Child Focus", users.UserRole.REVIEWER, "rev@childfocus.example"),
        }
        for org, role, email in people.values():
            users.create_user(session, org, email, role, password=PASSWORD, language="en")
    follower = Follower(sessions)
    follower.load()
    a_notices = []
    with sessions.begin() as session:
        for i in range(QUEUED):
            sighting = record_sighting(
                session,
                match=_match(session, follower, a_record),
                url=f"{image_base}/i/leak{i}.jpg" + (MARKUP if i == QUEUED - 1 else ""),
                page_url=f"https://photoshare.example/u/someone/posts/{i}",
                source="crawler",
                box=(24, 16, 180, 140),
                now=T0 + dt.timedelta(minutes=i),
            )
            a_notices.append(sighting.id)
        b_sighting = record_sighting(
            session,
            match=_match(session, follower, b_record),
            url=f"{image_base}/i/other.jpg",
            page_url="https://photoshare.example/u/other/posts/1",
            source="crawler",
            now=T0,
        )
        b_id = b_sighting.id
    with sessions() as session:
        by_sighting = {n.sighting_id: n.id for n in session.scalars(select(Notice))}
    return {
        "a_case": a_case,
        "a_case_number": a_number,
        "b_case": b_case,
        "a_notices": [by_sighting[s] for s in a_notices],
        "b_notice": by_sighting[b_id],
        "people": {k: v[2] for k, v in people.items()},
    }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A running app on a fresh SQLite database, seeded; its notice worker delivers."""
    image = encode(photo(7).resize((256, 192)), quality=80)
    with site() as pages, webhook() as receiver, database_url("sqlite", tmp_path) as url:
        for i in range(QUEUED):
            pages.pages[f"/i/leak{i}.jpg"] = (200, "image/jpeg", image)
        pages.pages["/i/other.jpg"] = (200, "image/jpeg", image)
        image_base = f"http://127.0.0.1:{pages.port}"
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            allow_loopback=True,
            notices_interval=0.2,
        )
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        ids = seed(sessions, image_base, receiver.url)
        with running_api(settings) as base:
            yield World(base, settings, sessions, receiver, image_base, **ids)
        engine.dispose()


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    playwright = request.getfixturevalue("playwright")
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield launched
    launched.close()


class Tab:
    """One browser context and page, with the console errors it logged."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.allow_http_errors = False
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: Any) -> None:
        expected = (
            self.allow_http_errors and "the server responded with a status of 4" in message.text
        )
        if message.type == "error" and not expected:
            self.errors.append(f"{message.text} at {message.location.get('url', '?')}")

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        self.go("/console/sign-in")
        self.page.fill("#email", email)
        self.page.fill("#password", password)
        self.page.click("button[type=submit].primary")

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser: Any, world: World) -> Iterator[Any]:
    """Open tabs on the world's app; fail the test if any page logged a console error."""
    opened: list[Tab] = []

    def open_tab() -> Tab:
        tab = Tab(browser, world.base)
        opened.append(tab)
        return tab

    yield open_tab
    errors = [e for tab in opened for e in tab.errors]
    for tab in opened:
        tab.close()
    assert errors == [], f"console errors: {errors}"


from tests.notices.conftest import (  # noqa: E402  (the notices room's database fixtures)
    db_url,
    postgres_once,
    sessions,
    sqlite_template,
)

__all__ = ["db_url", "postgres_once", "sessions", "sqlite_template"]

"""Fixtures of the notices room: a registry with an NGO, a case and its fingerprints.

The same tests run on SQLite and PostgreSQL. Matches come from the real
detection service over a live index fed by the change log, as in production.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from empreinte.detection.service import Match, Query, match_queries
from empreinte.hashing.fingerprint import Fingerprint
from empreinte.hashing.signals import SignalType
from empreinte.net.client import sync_client
from empreinte.notices.channels import Channel, EmailChannel, SmtpServer, WebhookChannel
from empreinte.notices.contacts import add_contact
from empreinte.store import migrate, registry
from empreinte.store import models as m
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.follow import Follower
from empreinte.store.models import Base
from empreinte.store.models.notices import ContactRole
from tests.dbs import database_url, fresh_postgres
from tests.store.conftest import flip_bits, random_record

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
"""The start of every scripted timeline."""

NGO_EMAIL = "signalements@e-enfance.example"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once; each test works on a copy."""
    folder = tmp_path_factory.mktemp("template")
    with database_url("sqlite", folder) as url:
        migrate.upgrade(url)
    return folder / "empreinte.db"


@pytest.fixture(scope="session")
def postgres_once() -> Iterator[str]:
    """A PostgreSQL database migrated once; each test starts from emptied tables."""
    with fresh_postgres() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each kind (PostgreSQL skips when no server answers)."""
    if request.param == "sqlite":
        target = tmp_path / "empreinte.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_once")
    _empty(url)
    return url


def _empty(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        present = set(
            connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        )
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in present:
                connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def sqlite_sessions(sqlite_template: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """For tests of what does not depend on the database: channels, servers, rendering."""
    target = tmp_path / "empreinte.db"
    shutil.copyfile(sqlite_template, target)
    engine = make_engine(f"sqlite:///{target}")
    yield make_sessionmaker(engine)
    engine.dispose()


@dataclass
class World:
    """One NGO with one active case holding ``records``; ``follower.live`` matches them."""

    sessions: sessionmaker[Session]
    follower: Follower
    ngo_id: int
    case_id: str
    case_number: str
    pin: str
    records: list[Fingerprint]
    platform_id: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def match(
        self,
        session: Session,
        record: Fingerprint,
        distance: int = 0,
        signal: SignalType = SignalType.PDQ,
        seed: int = 0,
    ) -> Match:
        """Query the registry with ``record``'s value moved by ``distance`` bits."""
        signature = record.get(signal)
        assert signature is not None
        value = signature.value.raw
        if distance:
            value = flip_bits(value, distance, np.random.default_rng(seed))
        found = match_queries(session, self.follower.live, [Query(signal, value)], source="crawler")
        return next(f for f in found if f.fingerprint_id == str(record.id))


def make_world(
    sessions: sessionmaker[Session],
    records: list[Fingerprint] | None = None,
    *,
    org: str = "E-Enfance",
    email: str | None = NGO_EMAIL,
) -> World:
    """Register an NGO (with its notifier email), a case and its fingerprints."""
    records = records or [random_record(np.random.default_rng(11))]
    with sessions.begin() as session:
        ngo = registry.create_organisation(session, org, "ngo", contact_email=email)
        case, pin = registry.open_case(session, ngo.id)
        registry.attach_fingerprints(session, case, records)
        platform = registry.create_organisation(session, "PhotoShare", "platform")
        world_ids = (ngo.id, case.id, case.case_number, platform.id)
    follower = Follower(sessions)
    follower.load()
    ngo_id, case_id, case_number, platform_id = world_ids
    return World(sessions, follower, ngo_id, case_id, case_number, pin, records, platform_id)


def add_contacts(
    world: World,
    *,
    webhook: str | None = None,
    mail: str | None = None,
    domain: str = "photoshare.example",
    role: ContactRole = ContactRole.PLATFORM,
    language: str = "en",
) -> int:
    with world.sessions.begin() as session:
        contact = add_contact(
            session,
            domain=domain,
            role=role,
            webhook_url=webhook,
            webhook_secret="s3cret-for-tests-only" if webhook else None,
            email=mail,
            language=language,
            platform_id=world.platform_id,
            allow_loopback=True,
        )
        return contact.id


def withdraw(world: World) -> None:
    with world.sessions.begin() as session:
        registry.withdraw_case(session, session.get_one(m.Case, world.case_id))


def channels(
    mail_port: int | None = None, *, timeout: float = 5.0, verify: bool = True
) -> tuple[dict[str, Channel], httpx.Client]:
    client = sync_client(user_agent="tests", allow_loopback=True, timeout=timeout, verify=verify)
    found: dict[str, Channel] = {"webhook": WebhookChannel(client)}
    if mail_port is not None:
        server = SmtpServer("127.0.0.1", mail_port, "notices@empreinte.example", timeout=timeout)
        found["email"] = EmailChannel(server)
    return found, client

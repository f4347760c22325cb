"""A real API server per test, on SQLite or PostgreSQL, with keys for each role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.keys import create_key
from empreinte.store.models import Role
from tests.dbs import database_url
from tests.servers import running_api


@dataclass
class Api:
    base: str
    settings: Settings
    admin: str
    ngo_a: str
    ngo_b: str
    platform: str

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)

    def make_key(self, role: Role, org: str | None) -> str:
        engine = make_engine(self.settings.url)
        with make_sessionmaker(engine).begin() as session:
            _, key = create_key(session, role, org)
        engine.dispose()
        return key


def _start(kind: str, tmp_path: Path, **overrides: object) -> Iterator[Api]:
    with database_url(kind, tmp_path) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, **overrides)
        migrate.upgrade(settings.url)
        engine = make_engine(settings.url)
        with make_sessionmaker(engine).begin() as session:
            keys = [
                create_key(session, Role.ADMIN)[1],
                create_key(session, Role.NGO, "E-Enfance")[1],
                create_key(session, Role.NGO, "Child Focus")[1],
                create_key(session, Role.PLATFORM, "PhotoShare")[1],
            ]
        engine.dispose()
        with running_api(settings) as base:
            yield Api(base, settings, *keys)


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    yield from _start(request.param, tmp_path)


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    yield from _start("sqlite", tmp_path)

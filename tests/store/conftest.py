"""Fixtures of the registry: the same tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from empreinte.hashing.fingerprint import Fingerprint, Signal
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.store import migrate
from empreinte.store.db import make_engine, make_sessionmaker
from tests.dbs import database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def random_record(rng: np.random.Generator, quality: int = 90) -> Fingerprint:
    """A fingerprint record with random, well-spread hash values."""

    def value(kind: SignalType) -> HashValue:
        return HashValue(kind, rng.integers(0, 256, kind.nbits // 8, dtype=np.uint8).tobytes())

    signals = [Signal(value(SignalType.PDQ), quality), Signal(value(SignalType.PHASH), quality)]
    signals.append(Signal(value(SignalType.SHA256)))
    return Fingerprint(
        media_type="image/jpeg", width=640, height=480, signals=tuple(signals), id=uuid.uuid4()
    )


def flip_bits(value: bytes, count: int, rng: np.random.Generator) -> bytes:
    bits = np.unpackbits(np.frombuffer(value, dtype=np.uint8))
    where = rng.choice(bits.size, count, replace=False)
    bits[where] ^= 1
    return np.packbits(bits).tobytes()

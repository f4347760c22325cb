"""Hole 12: a withdrawal erases the values no other case holds, from the database and snapshots."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.hashing.fingerprint import Fingerprint
from empreinte.store import models as m
from empreinte.store import registry
from empreinte.store.erase import Eraser
from empreinte.store.follow import Follower
from tests.security.helpers import record

GRACE = dt.timedelta(hours=12)


def _values(records: list[Fingerprint]) -> list[bytes]:
    found = [s.value.raw for r in records for s in r.signals]
    found += [r.features.to_bytes() for r in records if r.features is not None]
    return found


def _files(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_withdrawn_values_are_gone_from_database_and_snapshot(
    sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    mine, shared = record(11), record(12)
    with sessions.begin() as session:
        ngo = registry.create_organisation(session, "E-Enfance", "ngo")
        other = registry.create_organisation(session, "Child Focus", "ngo")
        withdrawn, _ = registry.open_case(session, ngo.id)
        kept, _ = registry.open_case(session, other.id)
        registry.attach_fingerprints(session, withdrawn, [mine, shared])
        registry.attach_fingerprints(session, kept, [shared])
    folder = tmp_path / "index"
    follower = Follower(sessions, folder)
    follower.load()
    follower.snapshot()
    assert all(v[:16] in _files(folder) for v in _values([mine])[:1]), "the test can see values"
    with sessions.begin() as session:
        registry.withdraw_case(session, session.get_one(m.Case, withdrawn.id))
    follower.catch_up()
    eraser = Eraser(sessions, grace=GRACE, every=3600)
    assert eraser.run_once(m.utcnow()) == 0, "the grace period lets feed followers see it"
    assert eraser.run_once(m.utcnow() + GRACE + dt.timedelta(minutes=1)) > 0
    follower.snapshot()

    gone = [v for v in _values([mine]) if v not in _values([shared])]
    with sessions() as session:
        stored = [v for (v,) in session.execute(select(m.Hash.value)) if v is not None]
        stored += [v for (v,) in session.execute(select(m.Change.value)) if v]
        stored += [v for (v,) in session.execute(select(m.LocalFeatureSet.data))]
    assert not set(gone) & set(stored), "no withdrawn value in any table"
    assert set(_values([shared])) <= set(stored), "the other case's values stay"
    snapshot = _files(folder)
    assert not any(v in snapshot for v in gone), "no withdrawn value in the snapshot files"
    if db_url.startswith("sqlite"):
        database = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert not any(v in raw for v in gone), "no withdrawn value in the SQLite files"
    live = follower.live
    assert live.size(mine.signals[0].type) == 1, "only the shared record's PDQ is indexed"

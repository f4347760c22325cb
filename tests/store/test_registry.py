"""The registry on SQLite and PostgreSQL: migrations, validation, dedup, the change log."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.hashing.fingerprint import Signal
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.store import migrate, registry
from empreinte.store import models as m
from empreinte.store.follow import Follower
from empreinte.store.secrets import check_pin
from tests.store.conftest import flip_bits, random_record


def test_migrations_match_the_models(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.check(db_url)


def _case(session: Session, org_name: str = "E-Enfance") -> tuple[m.Case, str]:
    org = registry.get_or_create_organisation(session, org_name, "ngo")
    return registry.open_case(session, org.id)


def test_case_pin_is_stored_only_as_a_slow_hash(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        case, pin = _case(session)
        case_id = case.id
    with sessions() as session:
        stored = session.get_one(m.Case, case_id)
        assert pin not in stored.pin_hash
        assert stored.pin_hash.startswith("scrypt$")
        assert check_pin(pin, stored.pin_hash)
        assert not check_pin("00000000" if pin != "00000000" else "1", stored.pin_hash)
        assert stored.status == "received"


def test_attach_refuses_bad_records_with_reasons(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(1)
    good = random_record(rng)
    low = random_record(rng, quality=30)
    zero = dataclasses.replace(
        random_record(rng),
        signals=(Signal(HashValue(SignalType.PDQ, bytes(32)), 100),),
    )
    no_pdq = dataclasses.replace(random_record(rng), signals=(random_record(rng).signals[2],))
    with sessions.begin() as session:
        case, _ = _case(session)
        result = registry.attach_fingerprints(session, case, [good, low, zero, no_pdq])
        assert result.accepted == 1
        reasons = {r.index: r.reason for r in result.refused}
        assert "quality 30" in reasons[1]
        assert "all zeros" in reasons[2]
        assert "PDQ signal is required" in reasons[3]
        assert case.status == "active"


def test_duplicate_hashes_are_stored_once_and_linked(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(2)
    record = random_record(rng)
    twin = dataclasses.replace(random_record(rng), signals=record.signals)
    with sessions.begin() as session:
        first, _ = _case(session, "E-Enfance")
        second, _ = _case(session, "Child Focus")
        registry.attach_fingerprints(session, first, [record])
        again = registry.attach_fingerprints(session, first, [record])
        other = registry.attach_fingerprints(session, second, [record, twin])
        assert again.already_present == 1
        [moved] = other.reassigned
        assert moved.record_id == str(record.id) != moved.fingerprint_id
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.Hash)) == 3
        assert session.scalar(select(func.count()).select_from(m.Fingerprint)) == 3
        assert session.scalar(select(func.count()).select_from(m.CaseFingerprint)) == 3
        adds = session.scalars(select(m.Change.op)).all()
        assert adds == ["add"] * 3


def test_withdrawal_logs_removals_unless_another_case_holds_the_hash(
    sessions: sessionmaker[Session],
) -> None:
    rng = np.random.default_rng(3)
    shared, own = random_record(rng), random_record(rng)
    with sessions.begin() as session:
        first, _ = _case(session, "E-Enfance")
        second, _ = _case(session, "Child Focus")
        registry.attach_fingerprints(session, first, [shared, own])
        registry.attach_fingerprints(session, second, [shared])
        start = registry.last_seq(session)
        registry.withdraw_case(session, first)
    with sessions() as session:
        removed = registry.changes_since(session, start)
        assert {c.op for c in removed} == {"remove"}
        assert {c.value for c in removed} == {s.value.raw for s in own.signals}
    with sessions.begin() as session:
        registry.withdraw_case(session, session.get_one(m.Case, second.id))
    with sessions() as session:
        assert session.scalar(select(func.count()).where(m.Hash.active.is_(True))) == 0


def test_follower_sees_adds_and_withdrawals_at_once(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(4)
    record = random_record(rng)
    pdq = record.signals[0].value.raw
    follower = Follower(sessions)
    follower.load()
    assert follower.ready.is_set()
    with sessions.begin() as session:
        case, _ = _case(session)
        registry.attach_fingerprints(session, case, [record])
        case_id = case.id
    follower.catch_up()
    near = flip_bits(pdq, 31, rng)
    far = flip_bits(pdq, 32, rng)
    assert [h.distance for h in follower.live.search(SignalType.PDQ, near, 31)] == [31]
    assert follower.live.search(SignalType.PDQ, far, 31) == []
    sha = record.signals[2].value.raw
    assert len(follower.live.search(SignalType.SHA256, sha, 0)) == 1
    with sessions.begin() as session:
        registry.withdraw_case(session, session.get_one(m.Case, case_id))
    follower.catch_up()
    assert follower.live.search(SignalType.PDQ, pdq, 31) == []
    assert follower.live.search(SignalType.SHA256, sha, 0) == []


def test_concurrent_add_and_withdraw_of_one_hash_stay_consistent(
    sessions: sessionmaker[Session],
) -> None:
    rng = np.random.default_rng(5)
    record = random_record(rng)
    with sessions.begin() as session:
        first, _ = _case(session, "E-Enfance")
        second, _ = _case(session, "Child Focus")
        registry.attach_fingerprints(session, first, [record])
        ids = (first.id, second.id)
    errors: list[BaseException] = []

    def withdraw() -> None:
        try:
            with sessions.begin() as session:
                registry.withdraw_case(session, session.get_one(m.Case, ids[0]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    def add() -> None:
        try:
            with sessions.begin() as session:
                case = session.get_one(m.Case, ids[1])
                registry.attach_fingerprints(session, case, [record])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=withdraw), threading.Thread(target=add)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    follower = Follower(sessions)
    follower.load()
    with sessions() as session:
        for row in session.scalars(select(m.Hash)):
            last = session.scalar(
                select(m.Change.op).where(m.Change.hash_id == row.id).order_by(m.Change.seq.desc())
            )
            assert row.active, "the second case still holds the hash"
            assert last == "add"
    pdq = record.signals[0].value.raw
    assert len(follower.live.search(SignalType.PDQ, pdq, 0)) == 1


def test_changes_since_pages_in_order(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(6)
    with sessions.begin() as session:
        case, _ = _case(session)
        registry.attach_fingerprints(session, case, [random_record(rng) for _ in range(20)])
    with sessions() as session:
        first = registry.changes_since(session, 0, limit=25)
        rest = registry.changes_since(session, first[-1].seq, limit=100)
    seqs = [c.seq for c in first + rest]
    assert len(seqs) == 60
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 60


@pytest.mark.parametrize("bad", ["g" * 64, "00", ""])
def test_malformed_hash_never_reaches_the_registry(bad: str) -> None:
    from empreinte.errors import SignalError

    with pytest.raises(SignalError):
        HashValue.parse("pdq", bad)

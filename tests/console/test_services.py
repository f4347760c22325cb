"""The console's services on SQLite and PostgreSQL: accounts, sessions, throttling, the queue."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from empreinte.notices import queue
from empreinte.store import models as m
from empreinte.store import users
from empreinte.store.models.notices import NegativeEntry, Notice
from empreinte.store.registry import Conflict, NotFound
from empreinte.store.users import SignInRefused, Throttled, UserRole
from tests.console.conftest import PASSWORD, QUEUED, seed

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _sign_in(sessions: sessionmaker[Session], email: str, password: str, client: str = "c") -> Any:
    """Sign in in a transaction that commits the failure count, as the console does."""
    with sessions.begin() as session:
        try:
            return users.sign_in(session, email, password, client=client, code=None, now=NOW)
        except (SignInRefused, Throttled) as exc:
            return exc


def test_accounts_hash_passwords_with_argon2id(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = users.create_user(
            session, "E-Enfance", " Rev@E-Enfance.example ", UserRole.REVIEWER, password=PASSWORD
        )
        with pytest.raises(Conflict, match="exists already"):
            users.create_user(session, "E-Enfance", "rev@e-enfance.example", UserRole.REVIEWER)
        with pytest.raises(Conflict, match="not an email"):
            users.create_user(session, "E-Enfance", "<script>@x", UserRole.REVIEWER)
        with pytest.raises(Conflict, match="12 to 1024"):
            users.create_user(session, "E-Enfance", "b@e.example", UserRole.REVIEWER, password="x")
        assert user.email == "rev@e-enfance.example"
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
    assert isinstance(_sign_in(sessions, "rev@e-enfance.example", PASSWORD), users.User)
    assert isinstance(_sign_in(sessions, "rev@e-enfance.example", "wrong password!"), SignInRefused)
    assert isinstance(_sign_in(sessions, "nobody@e-enfance.example", PASSWORD), SignInRefused)


def test_totp_is_required_once_enabled(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user = users.create_user(session, "E", "a@e.example", UserRole.ORG_ADMIN, password=PASSWORD)
        uri = users.enable_totp(session, user)
        secret = user.totp_secret
    assert uri.startswith("otpauth://totp/") and secret
    assert isinstance(_sign_in(sessions, "a@e.example", PASSWORD), SignInRefused)
    with sessions.begin() as session:
        code = pyotp.TOTP(secret).at(NOW)
        found = users.sign_in(session, "a@e.example", PASSWORD, client="c", code=code, now=NOW)
        assert found.email == "a@e.example"


def test_sessions_are_stored_hashed_expire_and_end_at_sign_out(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        user = users.create_user(session, "E", "a@e.example", UserRole.REVIEWER, password=PASSWORD)
        token, csrf = users.open_session(session, user, NOW)
    with sessions() as session:
        stored = [r[0] for r in session.execute(text("SELECT token_hash FROM console_sessions"))]
        assert stored == [users.digest(token)] and token not in stored
        live = users.signed_in(session, token, NOW + dt.timedelta(hours=1))
        assert live is not None and live.csrf == csrf
        assert users.signed_in(session, token, NOW + users.SESSION_TTL) is None
        assert users.signed_in(session, token + "x", NOW) is None
        assert users.signed_in(session, "", NOW) is None
    with sessions.begin() as session:
        users.sign_out(session, token, NOW)
    with sessions() as session:
        assert users.signed_in(session, token, NOW) is None


def test_sign_in_is_throttled_per_account_and_per_client(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for name in ("a", "b"):
            users.create_user(
                session, "E", f"{name}@e.example", UserRole.REVIEWER, password=PASSWORD
            )
    for _ in range(users.FAILURES_PER_ACCOUNT):
        assert isinstance(_sign_in(sessions, "a@e.example", "wrong password!"), SignInRefused)
    blocked = _sign_in(sessions, "a@e.example", PASSWORD)
    assert isinstance(blocked, Throttled) and blocked.retry_after > 0
    assert isinstance(_sign_in(sessions, "b@e.example", PASSWORD, client="d"), users.User)
    for i in range(users.FAILURES_PER_CLIENT):
        _sign_in(sessions, f"guess{i}@e.example", "wrong password!", client="attacker")
    assert isinstance(_sign_in(sessions, "b@e.example", PASSWORD, client="attacker"), Throttled)


def test_parallel_failures_are_all_counted(sessions: sessionmaker[Session]) -> None:
    """The throttle's upsert is atomic: every refused guess is counted, none is lost."""
    with sessions.begin() as session:
        users.create_user(session, "E", "a@e.example", UserRole.REVIEWER, password=PASSWORD)
    found = _parallel(
        12, lambda i: _sign_in(sessions, "a@e.example", "wrong password!", client=f"c{i}")
    )
    refused = sum(isinstance(r, SignInRefused) for r in found)
    assert refused + sum(isinstance(r, Throttled) for r in found) == 12
    with sessions() as session:
        entry = session.get(users.ThrottleEntry, "account:a@e.example")
        assert entry is not None and entry.failures == refused >= users.FAILURES_PER_ACCOUNT
    assert isinstance(_sign_in(sessions, "a@e.example", PASSWORD), Throttled)


def _parallel(n: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _queue_world(sessions: sessionmaker[Session]) -> tuple[int, list[int], dict[str, Any]]:
    ids = seed(sessions, "https://cdn.photoshare.example", "http://127.0.0.1:9/h")
    with sessions() as session:
        org = session.scalar(select(m.Organisation).where(m.Organisation.name == "E-Enfance"))
        assert org is not None
        reviewers = []
    with sessions.begin() as session:
        for i in range(8):
            reviewers.append(
                users.create_user(session, "E-Enfance", f"r{i}@e.example", UserRole.REVIEWER).id
            )
    return org.id, reviewers, ids


def test_each_queued_item_goes_to_exactly_one_reviewer(sessions: sessionmaker[Session]) -> None:
    org, reviewers, ids = _queue_world(sessions)

    def take(i: int) -> str | None:
        with sessions.begin() as session:
            item = queue.take(session, org, reviewers[i], NOW)
            return item.notice.id if item else None

    first = _parallel(8, take)
    assert None not in first and len(set(first)) == 8
    assert first == sorted(first, key=ids["a_notices"].index) or set(first) == set(
        ids["a_notices"][:8]
    )
    assert take(0) == first[0], "a reviewer who asks again keeps their item"
    with sessions() as session:
        assert queue.leases_of(session, first) == {n: reviewers[i] for i, n in enumerate(first)}
        assert queue.waiting(session, org) == QUEUED
    second = _parallel(8, take)
    assert second == first


def test_leases_run_out_and_decisions_end_them(sessions: sessionmaker[Session]) -> None:
    org, reviewers, _ = _queue_world(sessions)
    with sessions.begin() as session:
        mine = queue.take(session, org, reviewers[0], NOW)
        assert mine is not None
        with pytest.raises(NotFound):
            queue.leased(session, org, reviewers[1], mine.notice.id, NOW)
        with pytest.raises(NotFound):
            queue.leased(session, org + 1, reviewers[0], mine.notice.id, NOW)
    later = NOW + queue.LEASE + dt.timedelta(seconds=1)
    with sessions.begin() as session:
        again = queue.take(session, org, reviewers[1], later)
        assert again is not None and again.notice.id == mine.notice.id
        with pytest.raises(NotFound):
            queue.leased(session, org, reviewers[0], mine.notice.id, later)
        queue.decide(session, again, queue.Decision.FALSE_MATCH, actor="user:2", now=later)
    with sessions() as session:
        assert session.get_one(Notice, mine.notice.id).status == "cancelled"
        [entry] = session.scalars(select(NegativeEntry))
        assert entry.url == again.sighting.url
        assert queue.waiting(session, org) == QUEUED - 1
        assert queue.leases_of(session, [mine.notice.id]) == {}

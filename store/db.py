"""Open the database: SQLite in WAL mode by default, PostgreSQL for scale-out.

SQLite transactions start with ``BEGIN IMMEDIATE`` so that two writers queue on
the busy timeout instead of failing half-way; PostgreSQL writers that touch the
change log serialise on one advisory lock (see :func:`lock_change_log`) so that
``changes.seq`` grows in commit order and no follower skips a row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

CHANGE_LOG_LOCK = 0x454D5052
"""PostgreSQL advisory-lock key ('EMPR') held by transactions that append changes."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool each backend needs."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def lock_change_log(session: Session) -> None:
    """Serialise writers of the change log until this transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_LOG_LOCK})

"""Count attempts per key in the database: atomic, shared by every process, kept across restarts.

Guessing a PIN must cost the same whether one process or ten answer, whether the
guesses come one by one or forty at once, and whether the server restarted in
between. :func:`reserve` therefore counts the attempt *before* the slow check,
in one atomic upsert that returns the new count; only attempts within the limit
are checked at all. :func:`forgive` takes back the attempt of a right answer,
so only failures count.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import Table, case, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from empreinte.store.models import ThrottleBucket
from empreinte.store.registry import utc


def reserve(
    session: Session, key: str, limit: int, window: dt.timedelta, now: dt.datetime
) -> float:
    """Count one attempt on ``key``; return 0 if it is within ``limit``, else seconds to wait."""
    table = cast(Table, ThrottleBucket.__table__)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    expired = table.c.window_start <= now - window
    statement = (
        insert(table)
        .values(key=key[:160], window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((expired, 1), else_=table.c.count + 1),
                "window_start": case((expired, now), else_=table.c.window_start),
            },
        )
        .returning(table.c.count, table.c.window_start)
    )
    count, started = session.execute(statement).one()
    if count <= limit:
        return 0.0
    return max(1.0, (utc(started) + window - now).total_seconds())


def forgive(session: Session, key: str) -> None:
    """Take back one attempt on ``key`` (it succeeded)."""
    session.execute(
        update(ThrottleBucket)
        .where(ThrottleBucket.key == key[:160], ThrottleBucket.count > 0)
        .values(count=ThrottleBucket.count - 1)
    )

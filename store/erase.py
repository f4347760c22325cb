"""Erase withdrawn hash values: from the database, and from the change log that indexes replay.

Withdrawing a case stops its values matching at once (the change log's
``remove``). A victim who withdraws also expects the values to be *gone*, so
:func:`erase_withdrawn` deletes, for every value that no live fingerprint has
held for ``grace`` (during which platforms following ``/v1/feed`` still see the
value of the removal): its links to fingerprints and to video frames, its local features, and the
value itself, in the ``hashes`` row (kept empty, for the change log's sake) and
in every change row of it. Indexes drop the value when they apply the removal
and compact, and no snapshot holds it (``HammingIndex.save`` writes a removed
slot's code as zeros). On SQLite, freed pages are overwritten
(``secure_delete``) and the write-ahead log is truncated, so no copy of the
value stays in the files.

:class:`Eraser` runs a pass every ``every`` seconds in ``serve`` and ``worker``:
erasure is done at most ``grace`` + ``every`` after the withdrawal.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from empreinte.store import models as m
from empreinte.store.db import lock_change_log
from empreinte.store.models.videos import VideoFrame
from empreinte.store.registry import live_fingerprint

log = logging.getLogger(__name__)

_CHUNK = 500


def erase_withdrawn(session: Session, now: dt.datetime, grace: dt.timedelta) -> int:
    """Erase the values no live fingerprint has held since ``now - grace``; return how many."""
    lock_change_log(session)
    due = list(
        session.scalars(
            select(m.Hash.id).where(
                m.Hash.active.is_(False),
                m.Hash.value.is_not(None),
                m.Hash.inactive_since.is_not(None),
                m.Hash.inactive_since <= now - grace,
            )
        )
    )
    erased = 0
    for start in range(0, len(due), _CHUNK):
        chunk = due[start : start + _CHUNK]
        held = set(
            session.scalars(
                select(m.FingerprintHash.hash_id).where(
                    m.FingerprintHash.hash_id.in_(chunk),
                    live_fingerprint(m.FingerprintHash.fingerprint_id),
                )
            )
        )
        ids = [i for i in chunk if i not in held]
        if not ids:
            continue
        session.execute(delete(VideoFrame).where(VideoFrame.hash_id.in_(ids)))
        session.execute(delete(m.FingerprintHash).where(m.FingerprintHash.hash_id.in_(ids)))
        session.execute(delete(m.LocalFeatureSet).where(m.LocalFeatureSet.hash_id.in_(ids)))
        session.execute(update(m.Change).where(m.Change.hash_id.in_(ids)).values(value=b""))
        session.execute(update(m.Hash).where(m.Hash.id.in_(ids)).values(value=None))
        erased += len(ids)
    return erased


def compact_files(engine: Engine) -> None:
    """Truncate SQLite's write-ahead log, so erased pages leave no copy behind.

    It runs outside any transaction, on the raw connection (in autocommit mode).
    """
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()
    try:
        connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


class Eraser:
    """Run :func:`erase_withdrawn` every ``every`` seconds in a thread, until :meth:`stop`."""

    def __init__(
        self, sessions: sessionmaker[Session], *, grace: dt.timedelta, every: float
    ) -> None:
        self.sessions = sessions
        self.grace = grace
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eraser", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run_once(self, now: dt.datetime | None = None) -> int:
        """Do one pass now; return how many values were erased."""
        with self.sessions.begin() as session:
            erased = erase_withdrawn(session, now or m.utcnow(), self.grace)
        if erased:
            with self.sessions() as session:
                bind = session.get_bind()
            compact_files(bind if isinstance(bind, Engine) else bind.engine)
            log.info("erased %d withdrawn hash values", erased)
        return erased

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception:
                log.exception("erasure pass failed; retrying")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

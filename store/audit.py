"""Append to the audit log: who, when, what, and never an image."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from empreinte.store import models as m

log = logging.getLogger(__name__)


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    organisation_id: int | None = None,
    target: str | None = None,
    **details: Any,
) -> None:
    """Add one audit entry to the caller's transaction."""
    session.add(
        m.AuditEntry(
            actor=actor,
            organisation_id=organisation_id,
            action=action,
            target=target,
            details=details,
        )
    )


class AuditQueue:
    """Write audit entries of hot paths (match queries) in batches, off the request path.

    Entries are flushed every ``interval`` seconds by a background thread, and
    on :meth:`close`. A crash can lose the last ``interval`` of query audit
    entries; actions that change data are audited in their own transaction with
    :func:`record` instead.
    """

    def __init__(self, sessions: sessionmaker[Session], interval: float = 0.1) -> None:
        self.sessions = sessions
        self.interval = interval
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def put(
        self,
        actor: str,
        action: str,
        *,
        organisation_id: int | None = None,
        target: str | None = None,
        **details: Any,
    ) -> None:
        entry = {
            "at": m.utcnow(),
            "actor": actor,
            "organisation_id": organisation_id,
            "action": action,
            "target": target,
            "details": details,
        }
        with self._lock:
            self._pending.append(entry)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            with self.sessions.begin() as session:
                session.execute(insert(m.AuditEntry), batch)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:
                log.exception("audit writer failed; will retry")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.flush()

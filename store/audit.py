"""Append to the audit log: who, when, what, and never an image."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from empreinte.store import models as m


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

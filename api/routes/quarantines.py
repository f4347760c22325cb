"""Quarantine routes: fingerprints held after matching too many URLs at once."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from empreinte.api.deps import NgoDep, SessionDep
from empreinte.api.schemas import QuarantinePublic
from empreinte.notices import consent, safety
from empreinte.store import audit
from empreinte.store import models as m
from empreinte.store.models.notices import Quarantine
from empreinte.store.registry import NotFound

router = APIRouter(prefix="/v1/quarantines", tags=["quarantines"])


def _public(q: Quarantine) -> QuarantinePublic:
    return QuarantinePublic(
        fingerprint_id=q.fingerprint_id,
        started_at=q.started_at,
        reason=q.reason,
        released_at=q.released_at,
    )


@router.get("", response_model=list[QuarantinePublic])
def list_quarantines(principal: NgoDep, session: SessionDep) -> list[QuarantinePublic]:
    """Fingerprints of your cases held for matching too many URLs at once."""
    rows = session.scalars(
        select(Quarantine)
        .where(Quarantine.released_at.is_(None))
        .order_by(Quarantine.started_at.desc())
    )
    return [
        _public(q)
        for q in rows
        if consent.holds(session, principal.organisation_id, q.fingerprint_id)
    ]


@router.post("/{fingerprint_id}/release", response_model=QuarantinePublic)
def release_quarantine(
    fingerprint_id: str, principal: NgoDep, session: SessionDep
) -> QuarantinePublic:
    """End a quarantine after review; the held notices return to draft."""
    with session.begin():
        if not consent.holds(session, principal.organisation_id, fingerprint_id):
            raise NotFound("no such fingerprint in your cases")
        q = safety.release(session, fingerprint_id, actor=principal.actor, now=m.utcnow())
        audit.record(
            session,
            principal.actor,
            "quarantine.release",
            organisation_id=principal.organisation_id,
            target=fingerprint_id,
        )
        return _public(q)

"""Notice routes: NGOs review and export their notices; platforms answer the ones sent to them.

NGOs see only the notices they notify (those of their own cases). A platform
answers only the notices delivered to a contact linked to it, by reference.
Nothing here names a victim: notices carry no case number, PIN or case id.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from empreinte.api.deps import NgoDep, PlatformDep, SessionDep
from empreinte.api.schemas import (
    AcknowledgeCreate,
    AcknowledgePublic,
    NoticeDetail,
    NoticePage,
    NoticePublic,
    RejectCreate,
    ReliabilityPublic,
)
from empreinte.notices import export, review, safety
from empreinte.store import audit
from empreinte.store import models as m
from empreinte.store.keys import Principal
from empreinte.store.models.notices import Notice, NoticeStatus, Sighting

router = APIRouter(prefix="/v1/notices", tags=["notices"])


def _public(notice: Notice, sighting: Sighting) -> dict[str, Any]:
    return {
        "notice_id": notice.id,
        "reference": notice.reference,
        "status": notice.status,
        "round": notice.round,
        "url": sighting.url,
        "page_url": sighting.page_url,
        "host": sighting.host,
        "signal": sighting.signal,
        "distance": sighting.distance,
        "inliers": sighting.inliers,
        "confidence": sighting.confidence,
        "box": sighting.box,
        "first_seen": sighting.first_seen,
        "last_seen": sighting.last_seen,
        "created_at": notice.created_at,
        "updated_at": notice.updated_at,
        "sent_at": notice.sent_at,
        "removed_at": notice.removed_at,
        "escalated_at": notice.escalated_at,
    }


def _detail(session: Session, notice: Notice) -> NoticeDetail:
    sighting = session.get_one(Sighting, notice.sighting_id)
    trust = safety.reliability(session, notice.fingerprint_id)
    held = safety.active_quarantine(session, notice.fingerprint_id)
    return NoticeDetail(
        **_public(notice, sighting),
        content=notice.content,
        reliability=ReliabilityPublic(
            blocked=trust.blocked,
            not_blocked=trust.not_blocked,
            pending_review=trust.pending_review,
            score=trust.score,
        ),
        quarantine=held.reason if held else None,
        evidence=export.evidence(session, notice, m.utcnow()),
    )


@router.get("", response_model=NoticePage)
def list_notices(
    principal: NgoDep,
    session: SessionDep,
    status: NoticeStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> NoticePage:
    """List this organisation's notices, newest first; ``?status=draft`` is the review queue."""
    rows, total = review.list_notices(
        session, principal.organisation_id, status, limit=limit, offset=offset
    )
    items = [NoticePublic(**_public(n, s)) for n, s in rows]
    return NoticePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{notice_id}.html", response_class=HTMLResponse)
def notice_html(
    notice_id: str, principal: NgoDep, session: SessionDep, lang: Literal["en", "fr"] = "en"
) -> HTMLResponse:
    """The printable evidence file: the notice, its history, deliveries and checks."""
    notice = review.owned(session, principal.organisation_id, notice_id)
    return _html(session, notice, lang)


@router.get("/{notice_id}.json")
def notice_json(notice_id: str, principal: NgoDep, session: SessionDep) -> dict[str, Any]:
    """The evidence file as JSON, dated now."""
    notice = review.owned(session, principal.organisation_id, notice_id)
    return export.evidence(session, notice, m.utcnow())


@router.get("/{notice_id}", response_model=NoticeDetail)
def get_notice(
    notice_id: str,
    principal: NgoDep,
    session: SessionDep,
    format: Literal["json", "html"] = "json",
    lang: Literal["en", "fr"] = "en",
) -> NoticeDetail | HTMLResponse:
    """Read a notice with the fingerprint's reliability, for review; ``?format=html`` prints it."""
    notice = review.owned(session, principal.organisation_id, notice_id)
    if format == "html":
        return _html(session, notice, lang)
    return _detail(session, notice)


def _html(session: Session, notice: Notice, lang: Literal["en", "fr"]) -> HTMLResponse:
    page = export.evidence_html(session, notice, lang, m.utcnow())
    disposition = f'inline; filename="{notice.reference}.html"'
    return HTMLResponse(page, headers={"Content-Disposition": disposition})


@router.post("/{notice_id}/approve", response_model=NoticeDetail)
def approve(notice_id: str, principal: NgoDep, session: SessionDep) -> NoticeDetail:
    """Approve a draft (or held) notice; the worker sends it within seconds."""
    with session.begin():
        notice = review.owned(session, principal.organisation_id, notice_id)
        review.approve(session, notice, actor=principal.actor, now=m.utcnow())
        _audit(session, principal, "notice.approve", notice)
        return _detail(session, notice)


@router.post("/{notice_id}/reject", response_model=NoticeDetail)
def reject(
    notice_id: str, body: RejectCreate, principal: NgoDep, session: SessionDep
) -> NoticeDetail:
    """Reject a draft (or held) notice, with the reason; it is never sent."""
    with session.begin():
        notice = review.owned(session, principal.organisation_id, notice_id)
        review.reject(session, notice, actor=principal.actor, now=m.utcnow(), reason=body.reason)
        _audit(session, principal, "notice.reject", notice)
        return _detail(session, notice)


@router.post("/{reference}/acknowledge", response_model=AcknowledgePublic)
def acknowledge(
    reference: str, body: AcknowledgeCreate, principal: PlatformDep, session: SessionDep
) -> AcknowledgePublic:
    """Answer a notice you received: ``acknowledged``, then ``removed`` or ``refused``."""
    with session.begin():
        notice = review.acknowledge(
            session,
            reference,
            principal.organisation_id,
            NoticeStatus(body.status),
            actor=principal.actor,
            now=m.utcnow(),
            reason=body.reason,
        )
        _audit(session, principal, f"notice.{body.status}", notice)
        return AcknowledgePublic(reference=notice.reference, status=notice.status)


def _audit(session: Session, principal: Principal, action: str, notice: Notice) -> None:
    audit.record(
        session,
        principal.actor,
        action,
        organisation_id=principal.organisation_id,
        target=notice.id,
        reference=notice.reference,
    )

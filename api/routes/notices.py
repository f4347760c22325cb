"""Notice routes: NGOs review and export notices; platforms answer them; statistics.

NGOs see only the notices they notify (those of their own cases). A platform
answers only the notices delivered to a contact linked to it, by reference.
Nothing here names a victim: notices carry no case number, PIN or case id.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from empreinte.api.deps import NgoDep, NgoOrAdminDep, NgoOrPlatformDep, PlatformDep, SessionDep
from empreinte.api.problems import Problem
from empreinte.errors import SignalError
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.notices import consent, contacts, export, report, review, safety
from empreinte.notices.models import (
    Contact,
    ContactRole,
    NegativeEntry,
    Notice,
    NoticeStatus,
    Quarantine,
    Sighting,
)
from empreinte.notices.service import normalise
from empreinte.store import audit, registry
from empreinte.store import models as m
from empreinte.store.keys import Principal

router = APIRouter(prefix="/v1", tags=["notices"])

"""To move to ``api/deps.py`` with the other aliases."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoticePublic(BaseModel):
    notice_id: str
    reference: str
    status: str
    round: int
    url: str
    page_url: str | None
    host: str
    signal: str
    distance: int
    confidence: float
    box: list[int] | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    removed_at: dt.datetime | None
    escalated_at: dt.datetime | None


class NoticePage(BaseModel):
    items: list[NoticePublic]
    total: int
    limit: int
    offset: int


class ReliabilityPublic(BaseModel):
    blocked: int
    not_blocked: int
    pending_review: int
    score: float = Field(description="(blocked + 1) / (blocked + not_blocked + 2)")


class NoticeDetail(NoticePublic):
    content: dict[str, Any]
    reliability: ReliabilityPublic
    quarantine: str | None = Field(description="Why the fingerprint is quarantined, if it is")
    evidence: dict[str, Any]


class RejectCreate(Strict):
    reason: str = Field(min_length=1, max_length=500)


class AcknowledgeCreate(Strict):
    status: Literal["acknowledged", "removed", "refused"]
    reason: str | None = Field(default=None, max_length=500)


class AcknowledgePublic(BaseModel):
    reference: str
    status: str


class ContactCreate(Strict):
    domain: str = Field(min_length=1, max_length=255, description="Covers its subdomains too")
    role: Literal["platform", "host", "escalation"]
    webhook_url: str | None = Field(default=None, max_length=2048)
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=128)
    email: str | None = Field(default=None, max_length=320)
    language: Literal["en", "fr"] = "en"
    platform: str | None = Field(
        default=None, max_length=200, description="Platform organisation allowed to answer"
    )


class ContactPublic(BaseModel):
    contact_id: int
    domain: str
    role: str
    webhook_url: str | None
    email: str | None
    language: str
    platform: str | None
    created_at: dt.datetime


class ContactCreated(ContactPublic):
    webhook_secret: str | None = Field(description="Shown once: the key of webhook signatures")


class NegativeCreate(Strict):
    url: str | None = Field(default=None, max_length=2048)
    signal: str | None = Field(default=None, max_length=32)
    value: str | None = Field(default=None, max_length=256, description="Hex hash value")
    reason: str = Field(min_length=1, max_length=500)


class NegativePublic(BaseModel):
    entry_id: int
    url: str | None
    signal: str | None
    value: str | None
    reason: str
    created_at: dt.datetime


class NotifierSettings(Strict):
    contact_email: str | None = Field(default=None, max_length=320)
    auto_approve: bool = False
    auto_approve_pdq_max: int = Field(default=10, ge=0, le=10)
    flood_urls: int = Field(default=20, ge=1, le=100_000)
    flood_window_hours: int = Field(default=24, ge=1, le=24 * 90)


class QuarantinePublic(BaseModel):
    fingerprint_id: str
    started_at: dt.datetime
    reason: str
    released_at: dt.datetime | None


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


@router.get("/notices", response_model=NoticePage)
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


@router.get("/notices/{notice_id}.html", response_class=HTMLResponse)
def notice_html(
    notice_id: str, principal: NgoDep, session: SessionDep, lang: Literal["en", "fr"] = "en"
) -> HTMLResponse:
    """The printable evidence file: the notice, its history, deliveries and checks."""
    notice = review.owned(session, principal.organisation_id, notice_id)
    return _html(session, notice, lang)


@router.get("/notices/{notice_id}.json")
def notice_json(notice_id: str, principal: NgoDep, session: SessionDep) -> dict[str, Any]:
    """The evidence file as JSON, dated now."""
    notice = review.owned(session, principal.organisation_id, notice_id)
    return export.evidence(session, notice, m.utcnow())


@router.get("/notices/{notice_id}", response_model=NoticeDetail)
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


@router.post("/notices/{notice_id}/approve", response_model=NoticeDetail)
def approve(notice_id: str, principal: NgoDep, session: SessionDep) -> NoticeDetail:
    """Approve a draft (or held) notice; the worker sends it within seconds."""
    with session.begin():
        notice = review.owned(session, principal.organisation_id, notice_id)
        review.approve(session, notice, actor=principal.actor, now=m.utcnow())
        _audit(session, principal, "notice.approve", notice)
        return _detail(session, notice)


@router.post("/notices/{notice_id}/reject", response_model=NoticeDetail)
def reject(
    notice_id: str, body: RejectCreate, principal: NgoDep, session: SessionDep
) -> NoticeDetail:
    """Reject a draft (or held) notice, with the reason; it is never sent."""
    with session.begin():
        notice = review.owned(session, principal.organisation_id, notice_id)
        review.reject(session, notice, actor=principal.actor, now=m.utcnow(), reason=body.reason)
        _audit(session, principal, "notice.reject", notice)
        return _detail(session, notice)


@router.post("/notices/{reference}/acknowledge", response_model=AcknowledgePublic)
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


@router.get("/stats", response_model=None)
def stats(
    principal: NgoOrAdminDep,
    session: SessionDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    format: Literal["json", "markdown"] = "json",
) -> dict[str, Any] | PlainTextResponse:
    """The DSA art. 22 yearly report: notices by host, content type and action, no personal data.

    An NGO sees its own notices; the operator's admin key sees the whole instance.
    """
    scope = principal.organisation_id if principal.role is m.Role.NGO else None
    found = report.yearly(session, year or m.utcnow().year, organisation_id=scope)
    if format == "markdown":
        return PlainTextResponse(report.render_markdown(found), media_type="text/markdown")
    return found


@router.get("/contacts", response_model=list[ContactPublic])
def list_contacts(principal: NgoOrAdminDep, session: SessionDep) -> list[ContactPublic]:
    """Who receives notices, per domain."""
    return [_contact(session, c) for c in contacts.list_contacts(session)]


@router.post("/contacts", status_code=201, response_model=ContactCreated)
def add_contact(
    body: ContactCreate, principal: NgoOrAdminDep, session: SessionDep
) -> ContactCreated:
    """Register a platform's or a host's contact for a domain: a webhook, an email, or both."""
    with session.begin():
        platform = (
            registry.get_or_create_organisation(session, body.platform, "platform").id
            if body.platform
            else None
        )
        contact = contacts.add_contact(
            session,
            domain=body.domain,
            role=ContactRole(body.role),
            webhook_url=body.webhook_url,
            webhook_secret=body.webhook_secret,
            email=body.email,
            language=body.language,
            platform_id=platform,
            created_by=principal.organisation_id,
        )
        audit.record(
            session,
            principal.actor,
            "contact.add",
            organisation_id=principal.organisation_id,
            target=str(contact.id),
            domain=contact.domain,
        )
        public = _contact(session, contact)
        return ContactCreated(**public.model_dump(), webhook_secret=contact.webhook_secret)


def _contact(session: Session, contact: Contact) -> ContactPublic:
    org = session.get(m.Organisation, contact.organisation_id) if contact.organisation_id else None
    return ContactPublic(
        contact_id=contact.id,
        domain=contact.domain,
        role=contact.role,
        webhook_url=contact.webhook_url,
        email=contact.email,
        language=contact.language,
        platform=org.name if org else None,
        created_at=contact.created_at,
    )


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(
    contact_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    principal: NgoOrAdminDep,
    session: SessionDep,
) -> None:
    """Delete a contact you registered (an admin may delete any); pending messages to it stop."""
    owner = principal.organisation_id if principal.role is m.Role.NGO else None
    with session.begin():
        contacts.delete_contact(session, contact_id, owner)
        audit.record(
            session,
            principal.actor,
            "contact.delete",
            organisation_id=principal.organisation_id,
            target=str(contact_id),
        )


@router.post("/negative-list", status_code=201, response_model=NegativePublic)
def add_negative(
    body: NegativeCreate, principal: NgoOrPlatformDep, session: SessionDep
) -> NegativePublic:
    """Mark a URL or a hash value benign, with a reason; its matches are no longer notified.

    A platform may list URLs only on its own domains. A hash value suppresses
    registered images that are near-exact copies of it (PDQ within 10 bits).
    """
    url, signal, value = _negative_target(body)
    with session.begin():
        platform = principal.role is m.Role.PLATFORM
        if (
            url
            and platform
            and not contacts.platform_covers(session, principal.organisation_id, url)
        ):
            raise Problem(403, "Forbidden", "a platform may list only URLs on its own domains")
        entry = safety.add_negative(
            session,
            reason=body.reason,
            actor=principal.actor,
            organisation_id=principal.organisation_id,
            now=m.utcnow(),
            url=url,
            signal=signal,
            value=value,
        )
        audit.record(
            session,
            principal.actor,
            "negative.add",
            organisation_id=principal.organisation_id,
            target=str(entry.id),
        )
        return _negative(entry)


def _negative_target(body: NegativeCreate) -> tuple[str | None, SignalType | None, bytes | None]:
    if (body.url is None) == (body.value is None):
        raise Problem(422, "Invalid request", "give either a url, or a signal and a value")
    if body.url is not None:
        return normalise(body.url), None, None
    try:
        parsed = HashValue.parse(body.signal or "", body.value or "")
    except SignalError as exc:
        raise Problem(422, "Invalid hash", str(exc)) from exc
    return None, parsed.signal, parsed.raw


def _negative(entry: NegativeEntry) -> NegativePublic:
    return NegativePublic(
        entry_id=entry.id,
        url=entry.url,
        signal=entry.signal,
        value=entry.value.hex() if entry.value else None,
        reason=entry.reason,
        created_at=entry.created_at,
    )


@router.get("/negative-list", response_model=list[NegativePublic])
def list_negative(
    principal: NgoOrAdminDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[NegativePublic]:
    """What is marked benign, newest first."""
    rows = session.scalars(
        select(NegativeEntry).order_by(NegativeEntry.id.desc()).limit(limit).offset(offset)
    )
    return [_negative(e) for e in rows]


@router.get("/quarantines", response_model=list[QuarantinePublic])
def list_quarantines(principal: NgoDep, session: SessionDep) -> list[QuarantinePublic]:
    """Fingerprints of your cases held for matching too many URLs at once."""
    rows = session.scalars(
        select(Quarantine)
        .where(Quarantine.released_at.is_(None))
        .order_by(Quarantine.started_at.desc())
    )
    return [
        QuarantinePublic(
            fingerprint_id=q.fingerprint_id,
            started_at=q.started_at,
            reason=q.reason,
            released_at=q.released_at,
        )
        for q in rows
        if consent.holds(session, principal.organisation_id, q.fingerprint_id)
    ]


@router.post("/quarantines/{fingerprint_id}/release", response_model=QuarantinePublic)
def release_quarantine(
    fingerprint_id: str, principal: NgoDep, session: SessionDep
) -> QuarantinePublic:
    """End a quarantine after review; the held notices return to draft."""
    with session.begin():
        if not consent.holds(session, principal.organisation_id, fingerprint_id):
            raise registry.NotFound("no such fingerprint in your cases")
        q = safety.release(session, fingerprint_id, actor=principal.actor, now=m.utcnow())
        audit.record(
            session,
            principal.actor,
            "quarantine.release",
            organisation_id=principal.organisation_id,
            target=fingerprint_id,
        )
        return QuarantinePublic(
            fingerprint_id=q.fingerprint_id,
            started_at=q.started_at,
            reason=q.reason,
            released_at=q.released_at,
        )


@router.get("/notifier", response_model=NotifierSettings)
def get_notifier(principal: NgoDep, session: SessionDep) -> NotifierSettings:
    """Your notifier settings: the email in your notices, and your approval policy."""
    return _settings(session, principal.organisation_id)


@router.put("/notifier", response_model=NotifierSettings)
def put_notifier(
    body: NotifierSettings, principal: NgoDep, session: SessionDep
) -> NotifierSettings:
    """Set the email that your notices carry (DSA art. 16(2)(c)) and your approval policy."""
    if principal.organisation_id is None:
        raise Problem(403, "Forbidden", "this key belongs to no organisation")
    with session.begin():
        org = session.get_one(m.Organisation, principal.organisation_id)
        if body.contact_email is not None:
            contacts.check_email(body.contact_email)
        org.contact_email = body.contact_email
        safety.set_policy(
            session,
            org.id,
            auto_approve=body.auto_approve,
            auto_approve_pdq_max=body.auto_approve_pdq_max,
            flood_urls=body.flood_urls,
            flood_window_hours=body.flood_window_hours,
        )
        audit.record(session, principal.actor, "notifier.set", organisation_id=org.id)
        return _settings(session, org.id)


def _settings(session: Session, organisation_id: int | None) -> NotifierSettings:
    if organisation_id is None:
        raise Problem(403, "Forbidden", "this key belongs to no organisation")
    org = session.get_one(m.Organisation, organisation_id)
    rule = safety.policy(session, organisation_id)
    return NotifierSettings(
        contact_email=org.contact_email,
        auto_approve=rule.auto_approve,
        auto_approve_pdq_max=rule.auto_approve_pdq_max,
        flood_urls=rule.flood_urls,
        flood_window_hours=rule.flood_window_hours,
    )

"""Notifier routes: the e-mail an NGO's notices carry, and its approval policy."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from empreinte.api.deps import NgoDep, SessionDep
from empreinte.api.problems import Problem
from empreinte.api.schemas import NotifierSettings
from empreinte.notices import contacts, safety
from empreinte.store import audit
from empreinte.store import models as m

router = APIRouter(prefix="/v1/notifier", tags=["notifier"])


@router.get("", response_model=NotifierSettings)
def get_notifier(principal: NgoDep, session: SessionDep) -> NotifierSettings:
    """Your notifier settings: the email in your notices, and your approval policy."""
    return _settings(session, principal.organisation_id)


@router.put("", response_model=NotifierSettings)
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

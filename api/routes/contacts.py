"""Contact routes: who receives an NGO's notices for a domain, by webhook or e-mail.

An NGO sees and changes only the contacts it registered, and they receive only
its own notices; an admin sees every contact and verifies the ones that should
receive every NGO's notices.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select
from sqlalchemy.orm import Session

from empreinte.api.deps import AdminDep, NgoOrAdminDep, SessionDep, StateDep
from empreinte.api.schemas import ContactCreate, ContactCreated, ContactPublic
from empreinte.notices import contacts
from empreinte.store import audit
from empreinte.store import models as m
from empreinte.store.keys import Principal
from empreinte.store.models.notices import Contact, ContactRole
from empreinte.store.registry import NotFound

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])

ContactId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _owner(principal: Principal) -> int | None:
    """The organisation whose contacts the caller manages; ``None`` for the admin (all)."""
    return principal.organisation_id if principal.role is m.Role.NGO else None


@router.get("", response_model=list[ContactPublic])
def list_contacts(principal: NgoOrAdminDep, session: SessionDep) -> list[ContactPublic]:
    """The contacts you registered (an admin sees every one)."""
    return [_contact(session, c) for c in contacts.list_contacts(session, _owner(principal))]


@router.post("", status_code=201, response_model=ContactCreated)
def add_contact(
    body: ContactCreate, principal: NgoOrAdminDep, session: SessionDep, state: StateDep
) -> ContactCreated:
    """Register who receives your notices for a domain: a webhook, an email, or both."""
    with session.begin():
        platform = _platform(session, body.platform) if body.platform else None
        contact = contacts.add_contact(
            session,
            domain=body.domain,
            role=ContactRole(body.role),
            webhook_url=body.webhook_url,
            webhook_secret=body.webhook_secret,
            email=body.email,
            language=body.language,
            platform_id=platform,
            created_by=_owner(principal),
            actor=principal.actor,
            allow_loopback=state.settings.allow_loopback,
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


def _platform(session: Session, name: str) -> int:
    found = session.scalar(
        select(m.Organisation.id).where(
            m.Organisation.name == name, m.Organisation.kind == m.Role.PLATFORM.value
        )
    )
    if found is None:
        raise NotFound(f"no platform organisation named {name[:100]!r}")
    return found


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
        verified=contact.verified_at is not None,
        created_at=contact.created_at,
    )


@router.post("/{contact_id}/verify", response_model=ContactPublic)
def verify_contact(
    contact_id: ContactId, principal: AdminDep, session: SessionDep
) -> ContactPublic:
    """Let a contact receive every NGO's notices for its domain (admin only)."""
    with session.begin():
        contact = contacts.verify_contact(
            session, contact_id, actor=principal.actor, now=m.utcnow()
        )
        audit.record(session, principal.actor, "contact.verify", target=str(contact_id))
        return _contact(session, contact)


@router.delete("/{contact_id}", status_code=204)
def delete_contact(contact_id: ContactId, principal: NgoOrAdminDep, session: SessionDep) -> None:
    """Delete a contact you registered (an admin may delete any); pending messages to it stop."""
    with session.begin():
        contacts.delete_contact(session, contact_id, _owner(principal))
        audit.record(
            session,
            principal.actor,
            "contact.delete",
            organisation_id=principal.organisation_id,
            target=str(contact_id),
        )

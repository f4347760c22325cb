"""Contacts and negative list: an organisation admin's own, never another organisation's.

The rules are the API's (``/v1/contacts`` and ``/v1/negative-list``): the
services check domains against the public suffix list and webhook URLs against
private and loopback addresses, and an organisation lists and deletes only
what it registered.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from empreinte.console import auth
from empreinte.console.pages import HEADERS, render
from empreinte.errors import EmpreinteError
from empreinte.notices import contacts, safety
from empreinte.store import audit
from empreinte.store.models.notices import ContactRole

router = APIRouter()
SHOWN = 200
"""Negative-list entries the page lists, newest first."""


def _page(request: Request, who: auth.Person, status: int = 200, **extra: object) -> Response:
    with who.state.sessions() as session:
        mine = contacts.list_contacts(session, who.organisation_id)
        negative = safety.list_negative(session, who.organisation_id, limit=SHOWN, offset=0)
        session.expunge_all()
    return render(
        request,
        "contacts.html",
        who.language,
        code=status,
        me=who,
        contacts=mine,
        negative=negative,
        roles=[r.value for r in ContactRole if r is not ContactRole.ESCALATION],
        **extra,
    )


@router.get("/contacts")
def contacts_page(request: Request, who: auth.PersonDep) -> Response:
    who.require("admin")
    return _page(request, who)


@router.post("/contacts")
async def add(request: Request, who: auth.PersonDep) -> Response:
    """Register who receives this organisation's notices for a domain; show the secret once."""
    fields = await auth.form(request, who)
    who.require("admin")
    try:
        role = ContactRole(fields.get("role", ""))
        with who.state.sessions.begin() as session:
            contact = contacts.add_contact(
                session,
                domain=fields.get("domain", ""),
                role=role,
                webhook_url=fields.get("webhook_url") or None,
                email=fields.get("email") or None,
                language=fields.get("language", "en"),
                created_by=who.organisation_id,
                actor=who.actor,
                allow_loopback=who.state.settings.allow_loopback,
            )
            audit.record(
                session,
                who.actor,
                "contact.add",
                organisation_id=who.organisation_id,
                target=str(contact.id),
                domain=contact.domain,
            )
            secret, domain = contact.webhook_secret, contact.domain
    except ValueError:
        return _page(request, who, 422, error="bad role", form=fields)
    except EmpreinteError as exc:
        return _page(request, who, 422, error=str(exc), form=fields)
    return _page(request, who, added=domain, secret=secret)


@router.post("/contacts/{contact_id}/delete")
async def delete(request: Request, contact_id: int, who: auth.PersonDep) -> Response:
    """Delete a contact this organisation registered; pending messages to it stop."""
    await auth.form(request, who)
    who.require("admin")
    with who.state.sessions.begin() as session:
        contacts.delete_contact(session, contact_id, who.organisation_id)
        audit.record(
            session,
            who.actor,
            "contact.delete",
            organisation_id=who.organisation_id,
            target=str(contact_id),
        )
    return RedirectResponse("/console/contacts?deleted=1", status_code=303, headers=HEADERS)


@router.post("/contacts/negative/{entry_id}/delete")
async def delete_negative(request: Request, entry_id: int, who: auth.PersonDep) -> Response:
    """Delete a negative-list entry of this organisation: its matches may come back."""
    await auth.form(request, who)
    who.require("admin")
    with who.state.sessions.begin() as session:
        safety.delete_negative(session, entry_id, who.organisation_id)
        audit.record(
            session,
            who.actor,
            "negative.delete",
            organisation_id=who.organisation_id,
            target=str(entry_id),
        )
    return RedirectResponse("/console/contacts?deleted=1", status_code=303, headers=HEADERS)

"""Keep who to notify per domain, and find the recipients of a sighting's notice.

A contact covers its domain and every subdomain: ``example.com`` receives
notices for ``cdn.example.com``. Both the image's host and the page's host are
looked up, so the site and its hosting provider are notified alike. Role
``escalation`` (the domain may be ``*``) joins only after repeated re-sends.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from empreinte.notices.errors import InvalidAddress
from empreinte.notices.models import Contact, ContactRole, Delivery, DeliveryStatus
from empreinte.store.registry import Conflict, NotFound

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9-]{1,63}$")
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]{1,255}$")
LANGUAGES = ("en", "fr")


def host_of(url: str) -> str:
    """Return the lower-case host of ``url``; raise :class:`InvalidAddress` if it has none."""
    host = urlsplit(url).hostname
    if not host:
        raise InvalidAddress(f"not an absolute URL: {url[:200]!r}")
    return host.lower().rstrip(".")


def suffixes(host: str) -> list[str]:
    """Return ``host`` and each parent domain: ``a.b.c`` gives ``a.b.c``, ``b.c``, ``c``."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def recipients(
    session: Session, hosts: Iterable[str | None], *, escalate: bool = False
) -> list[Contact]:
    """Return the contacts covering any of ``hosts``, with escalation contacts if asked."""
    domains = {d for host in hosts if host for d in suffixes(host)}
    roles = [ContactRole.PLATFORM.value, ContactRole.HOST.value]
    if escalate:
        roles.append(ContactRole.ESCALATION.value)
        domains.add("*")
    query = (
        select(Contact)
        .where(Contact.domain.in_(sorted(domains)), Contact.role.in_(roles))
        .order_by(Contact.id)
    )
    return list(session.scalars(query))


def add_contact(
    session: Session,
    *,
    domain: str,
    role: ContactRole,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    email: str | None = None,
    language: str = "en",
    platform_id: int | None = None,
    created_by: int | None = None,
    now: dt.datetime | None = None,
) -> Contact:
    """Register a contact; a webhook without a secret gets a fresh random one."""
    domain = _check(domain, role, webhook_url, email, language)
    taken = session.scalar(select(Contact.id).where(Contact.domain == domain, Contact.role == role))
    if taken is not None:
        raise Conflict(f"{domain} already has a {role} contact (id {taken}): delete it first")
    contact = Contact(
        domain=domain,
        role=role.value,
        webhook_url=webhook_url,
        webhook_secret=(webhook_secret or secrets.token_urlsafe(32)) if webhook_url else None,
        email=email,
        language=language,
        organisation_id=platform_id,
        created_by=created_by,
    )
    if now is not None:
        contact.created_at = now
    session.add(contact)
    session.flush()
    return contact


def _check(
    domain: str, role: ContactRole, webhook_url: str | None, email: str | None, language: str
) -> str:
    domain = domain.strip().lower().rstrip(".")
    if domain == "*":
        if role is not ContactRole.ESCALATION:
            raise InvalidAddress("only an escalation contact may cover every domain ('*')")
    elif not _DOMAIN.match(domain):
        raise InvalidAddress(f"not a domain name: {domain[:100]!r}")
    if not webhook_url and not email:
        raise InvalidAddress("a contact needs a webhook URL, an email address, or both")
    if webhook_url and urlsplit(webhook_url).scheme not in ("http", "https"):
        raise InvalidAddress("a webhook URL must be http:// or https://")
    if webhook_url:
        host_of(webhook_url)
    if email:
        check_email(email)
    if language not in LANGUAGES:
        raise InvalidAddress(f"language must be one of {', '.join(LANGUAGES)}")
    return domain


def check_email(email: str) -> None:
    """Raise :class:`InvalidAddress` unless ``email`` looks like one address."""
    if not _EMAIL.match(email):
        raise InvalidAddress(f"not an email address: {email[:100]!r}")


def delete_contact(session: Session, contact_id: int, organisation_id: int | None) -> None:
    """Delete a contact; an NGO may delete only those it created (``None`` is the admin).

    Past deliveries point at the contact, so its row stays as a tombstone under a
    reserved ``.invalid`` name, which frees its domain and role for a new contact.
    """
    contact = session.get(Contact, contact_id)
    if contact is None or (organisation_id is not None and contact.created_by != organisation_id):
        raise NotFound("no such contact")
    contact.domain = f"deleted-{contact.id}.invalid"
    contact.webhook_url = None
    contact.webhook_secret = None
    contact.email = None
    session.execute(
        update(Delivery)
        .where(Delivery.contact_id == contact.id, Delivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.CANCELLED.value, last_error="contact deleted")
    )


def list_contacts(session: Session) -> list[Contact]:
    return list(
        session.scalars(
            select(Contact).where(~Contact.domain.like("deleted-%")).order_by(Contact.id)
        )
    )


def platform_covers(session: Session, platform_id: int | None, url: str) -> bool:
    """Say whether ``url`` is on a domain whose contact is linked to the platform."""
    if platform_id is None:
        return False
    found = session.scalar(
        select(Contact.id).where(
            Contact.organisation_id == platform_id, Contact.domain.in_(suffixes(host_of(url)))
        )
    )
    return found is not None

"""Keep who to notify per domain, and find the recipients of a sighting's notice.

A contact covers its domain and every subdomain: ``example.com`` receives
notices for ``cdn.example.com``. Both the image's host and the page's host are
looked up, so the site and its hosting provider are notified alike. Role
``escalation`` joins only after repeated re-sends.

Contacts have owners. What an NGO registers receives only that NGO's own
notices; a contact receives everyone's notices only once an admin has verified
it (contacts the operator registers are verified at once). Public suffixes
(``com``, ``co.uk``, ``github.io``) and single labels are refused, and only an
admin may register the catch-all escalation contact ``*``. A webhook must be an
http(s) URL without credentials whose host is public: literal addresses in
every notation and names that resolve to loopback, private, link-local or
metadata addresses are refused here, and again by the guarded client at
delivery.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from functools import cache

from publicsuffixlist import PublicSuffixList
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from empreinte.net.guard import refusal, resolve
from empreinte.net.urls import host_of, http_url, literal_address
from empreinte.notices.errors import InvalidAddress
from empreinte.store import models as m
from empreinte.store.models.notices import Contact, ContactRole, Delivery, DeliveryStatus
from empreinte.store.registry import Conflict, NotFound

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9-]{1,63}$")
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]{1,255}$")
LANGUAGES = ("en", "fr")
EVERY_DOMAIN = "*"


@cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def suffixes(host: str) -> list[str]:
    """Return ``host`` and each parent domain: ``a.b.c`` gives ``a.b.c``, ``b.c``, ``c``."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def recipients(
    session: Session, hosts: Iterable[str | None], notifier: int, *, escalate: bool = False
) -> list[Contact]:
    """Return the contacts covering any of ``hosts`` for the ``notifier``'s notices.

    Those are the verified contacts and the notifier's own; escalation contacts
    join only when asked.
    """
    domains = {d for host in hosts if host for d in suffixes(host)}
    roles = [ContactRole.PLATFORM.value, ContactRole.HOST.value]
    if escalate:
        roles.append(ContactRole.ESCALATION.value)
        domains.add(EVERY_DOMAIN)
    query = (
        select(Contact)
        .where(
            Contact.domain.in_(sorted(domains)),
            Contact.role.in_(roles),
            or_(Contact.verified_at.is_not(None), Contact.created_by == notifier),
        )
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
    actor: str = "operator",
    allow_loopback: bool = False,
    now: dt.datetime | None = None,
) -> Contact:
    """Register a contact for ``created_by`` (``None``: the operator, verified at once).

    A webhook without a secret gets a fresh random one. ``platform_id`` names the
    platform organisation that may answer the notices this contact receives.
    """
    domain = check_domain(domain, role, admin=created_by is None)
    if webhook_url:
        webhook_url = check_webhook(webhook_url, allow_loopback=allow_loopback)
    if not webhook_url and not email:
        raise InvalidAddress("a contact needs a webhook URL, an email address, or both")
    if email:
        check_email(email)
    if language not in LANGUAGES:
        raise InvalidAddress(f"language must be one of {', '.join(LANGUAGES)}")
    if platform_id is not None:
        platform = session.get(m.Organisation, platform_id)
        if platform is None or platform.kind != m.Role.PLATFORM.value:
            raise NotFound("no such platform organisation")
    mine = Contact.created_by.is_(None) if created_by is None else Contact.created_by == created_by
    taken = session.scalar(
        select(Contact.id).where(Contact.domain == domain, Contact.role == role.value, mine)
    )
    if taken is not None:
        raise Conflict(f"you already have a {role} contact for {domain} (id {taken}): delete it")
    now = now or m.utcnow()
    contact = Contact(
        domain=domain,
        role=role.value,
        webhook_url=webhook_url,
        webhook_secret=(webhook_secret or secrets.token_urlsafe(32)) if webhook_url else None,
        email=email,
        language=language,
        organisation_id=platform_id,
        created_by=created_by,
        created_at=now,
        verified_at=now if created_by is None else None,
        verified_by=actor[:64] if created_by is None else None,
    )
    session.add(contact)
    session.flush()
    return contact


def verify_contact(session: Session, contact_id: int, *, actor: str, now: dt.datetime) -> Contact:
    """Let a contact receive every organisation's notices: an admin's decision."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.domain.endswith(".invalid"):
        raise NotFound("no such contact")
    contact.verified_at = now
    contact.verified_by = actor[:64]
    return contact


def check_domain(domain: str, role: ContactRole, *, admin: bool) -> str:
    """Return the normalised domain; refuse public suffixes, single labels, and ``*`` for NGOs."""
    domain = domain.strip().lower().rstrip(".")
    if domain == EVERY_DOMAIN:
        if role is not ContactRole.ESCALATION:
            raise InvalidAddress("only an escalation contact may cover every domain ('*')")
        if not admin:
            raise InvalidAddress("only an admin may register an escalation contact for '*'")
        return domain
    if not _DOMAIN.match(domain):
        raise InvalidAddress(f"not a domain name: {domain[:100]!r}")
    if "." not in domain:
        raise InvalidAddress(f"{domain!r} is a single label, not a site's domain")
    if literal_address(domain) is not None:
        raise InvalidAddress(f"{domain!r} is an address, not a domain name")
    if _public_suffixes().is_public(domain):
        raise InvalidAddress(f"{domain!r} is a public suffix, shared by many unrelated sites")
    return domain


def check_webhook(url: str, *, allow_loopback: bool = False) -> str:
    """Return a usable webhook URL, or raise :class:`InvalidAddress` with the reason."""
    url = http_url(url, credentials=False)
    host = host_of(url)
    literal = literal_address(host)
    if literal is not None:
        addresses = [str(literal)]
    elif host == "localhost" or host.endswith(".localhost") or "." not in host:
        raise InvalidAddress("a webhook must be on a public host")
    else:
        try:
            addresses = resolve(host, 443)
        except (OSError, UnicodeError):
            addresses = []  # not (yet) in DNS: the guarded client checks it at each delivery
    for address in addresses:
        ip = literal_address(address)
        if ip is None or refusal(ip, allow_loopback=allow_loopback) is not None:
            raise InvalidAddress("a webhook must be on a public host")
    return url


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
    contact.verified_at = None
    session.execute(
        update(Delivery)
        .where(Delivery.contact_id == contact.id, Delivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.CANCELLED.value, last_error="contact deleted")
    )


def list_contacts(session: Session, organisation_id: int | None) -> list[Contact]:
    """Return the live contacts ``organisation_id`` registered (``None``: all, for admins)."""
    query = select(Contact).where(~Contact.domain.like("deleted-%"))
    if organisation_id is not None:
        query = query.where(Contact.created_by == organisation_id)
    return list(session.scalars(query.order_by(Contact.id)))


def platform_covers(session: Session, platform_id: int | None, url: str) -> bool:
    """Say whether ``url`` is on a domain whose verified contact is linked to the platform."""
    if platform_id is None:
        return False
    found = session.scalar(
        select(Contact.id).where(
            Contact.organisation_id == platform_id,
            Contact.verified_at.is_not(None),
            Contact.domain.in_(suffixes(host_of(url))),
        )
    )
    return found is not None


__all__ = [
    "add_contact",
    "check_domain",
    "check_email",
    "check_webhook",
    "delete_contact",
    "list_contacts",
    "platform_covers",
    "recipients",
    "suffixes",
    "verify_contact",
]

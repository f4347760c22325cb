"""Map the notices room's tables; they share the registry's metadata.

* ``sightings``: a registered fingerprint seen at one URL, with the evidence.
* ``notices``: one takedown notice per sighting and notifying NGO, with its status.
* ``notice_transitions``: every change of status, with who and when.
* ``contacts``: who to notify for a domain: a webhook and/or an email address.
* ``deliveries``: the outbox; one row per notice, contact, channel and round.
* ``notice_checks``: each re-check of a sent notice's URL and its outcome.
* ``quarantines``: fingerprints held after matching too many URLs at once.
* ``negative_list``: URLs and hash values marked benign; their matches are suppressed.
* ``notice_policies``: each NGO's auto-approval and flood thresholds.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from empreinte.store.models import Base, BigId, utcnow

__all__ = [
    "Base",
    "Contact",
    "ContactRole",
    "Delivery",
    "DeliveryStatus",
    "NegativeEntry",
    "Notice",
    "NoticeCheck",
    "NoticePolicy",
    "NoticeStatus",
    "Quarantine",
    "Sighting",
    "Transition",
]

_URL = 2048


def _at(**kwargs: Any) -> Any:
    return mapped_column(DateTime(timezone=True), **kwargs)


class NoticeStatus(enum.StrEnum):
    DRAFT = "draft"
    HELD = "held"
    APPROVED = "approved"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    REMOVED = "removed"
    REFUSED = "refused"
    REAPPEARED = "reappeared"
    CANCELLED = "cancelled"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ContactRole(enum.StrEnum):
    PLATFORM = "platform"
    HOST = "host"
    ESCALATION = "escalation"


class NegativeEntry(Base):
    """A URL or a hash value marked benign, with who said so and why."""

    __tablename__ = "negative_list"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str | None] = mapped_column(String(_URL), index=True)
    signal: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    reason: Mapped[str] = mapped_column(String(500))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _at(default=utcnow)
    verified_at: Mapped[dt.datetime | None] = _at()
    """Set by an admin: the entry suppresses every organisation's notices, not only its owner's."""
    verified_by: Mapped[str | None] = mapped_column(String(64))


class Sighting(Base):
    """A registered fingerprint seen at a URL: first and last seen, and the match's evidence."""

    __tablename__ = "sightings"
    __table_args__ = (UniqueConstraint("fingerprint_id", "url"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    fingerprint_id: Mapped[str] = mapped_column(ForeignKey("fingerprints.id"), index=True)
    match_id: Mapped[str] = mapped_column(ForeignKey("match_events.id"))
    last_match_id: Mapped[str] = mapped_column(ForeignKey("match_events.id"))
    url: Mapped[str] = mapped_column(String(_URL))
    page_url: Mapped[str | None] = mapped_column(String(_URL))
    host: Mapped[str] = mapped_column(String(255), index=True)
    page_host: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))
    signal: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int | None] = mapped_column(Integer)
    inliers: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    box: Mapped[list[int] | None] = mapped_column(JSON)
    first_seen: Mapped[dt.datetime] = _at()
    last_seen: Mapped[dt.datetime] = _at()
    suppressed_by: Mapped[int | None] = mapped_column(ForeignKey("negative_list.id"))


class Notice(Base):
    """A takedown notice for one sighting, sent on behalf of one NGO (the notifier)."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("sighting_id", "organisation_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    sighting_id: Mapped[str] = mapped_column(ForeignKey("sightings.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    fingerprint_id: Mapped[str] = mapped_column(ForeignKey("fingerprints.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    category: Mapped[str] = mapped_column(String(32))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    round: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = _at()
    updated_at: Mapped[dt.datetime] = _at()
    sent_at: Mapped[dt.datetime | None] = _at()
    removed_at: Mapped[dt.datetime | None] = _at()
    next_check_at: Mapped[dt.datetime | None] = _at(index=True)
    escalated_at: Mapped[dt.datetime | None] = _at()


class Transition(Base):
    """One change of a notice's status (or an event such as an escalation), by whom and when."""

    __tablename__ = "notice_transitions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    at: Mapped[dt.datetime] = _at()
    actor: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))


class Contact(Base):
    """Who to notify for a domain and its subdomains, by webhook and/or email."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_domain", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    webhook_url: Mapped[str | None] = mapped_column(String(_URL))
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2), default="en")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = _at(default=utcnow)
    verified_at: Mapped[dt.datetime | None] = _at()
    """Set by an admin: the contact receives every organisation's notices, not only its owner's."""
    verified_by: Mapped[str | None] = mapped_column(String(64))


class Delivery(Base):
    """One message of the outbox: a notice, to a contact, by a channel, in a round."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = _at()
    lease_until: Mapped[dt.datetime | None] = _at()
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = _at()
    sent_at: Mapped[dt.datetime | None] = _at()


class NoticeCheck(Base):
    """One re-check of a notice's URL: was the content still there?"""

    __tablename__ = "notice_checks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    at: Mapped[dt.datetime] = _at()
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(500))


class Quarantine(Base):
    """A fingerprint whose notices are held: it matched too many URLs in a short window."""

    __tablename__ = "quarantines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint_id: Mapped[str] = mapped_column(ForeignKey("fingerprints.id"), index=True)
    started_at: Mapped[dt.datetime] = _at()
    reason: Mapped[str] = mapped_column(String(500))
    released_at: Mapped[dt.datetime | None] = _at()
    released_by: Mapped[str | None] = mapped_column(String(64))


class NoticePolicy(Base):
    """An NGO's choices: which matches it approves without review, and what counts as a flood."""

    __tablename__ = "notice_policies"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    auto_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_approve_pdq_max: Mapped[int] = mapped_column(Integer, default=10)
    flood_urls: Mapped[int] = mapped_column(Integer, default=20)
    flood_window_hours: Mapped[int] = mapped_column(Integer, default=24)

"""Map the registry's tables: the one source of truth that every index follows.

Tables, one word per concept:

* ``organisations``: NGOs (trusted flaggers), platforms, and the operator.
* ``api_keys``: bearer keys, stored as a SHA-256 of their secret part.
* ``cases``: a victim's case, owned by one NGO, with a PIN stored as a slow hash.
* ``fingerprints``: one record per image, as made by ``empreinte hash``.
* ``case_fingerprints``: many-to-many, since one image can belong to several cases.
* ``hashes``: each distinct signal value, stored once; ``active`` says whether
  any active case holds it, that is whether indexes must match it.
* ``fingerprint_hashes``: which values each fingerprint carries.
* ``changes``: the append-only change log; every flip of ``hashes.active`` adds
  one row with a monotonic ``seq``, which indexes replay.

* ``local_features``: the ORB features behind each ``orb`` hash row.
* ``video_frames`` (:mod:`.videos`): the time ranges of a registered video's frame hashes.
* ``match_events``: each match found for a platform or the crawler.
* ``audit_log``: who did what and when; never an image.
* ``throttle_buckets``: attempts per key (PIN guesses), shared by every process.
* ``self_service_challenges``: single-use proof-of-work challenges of the victim's page.

Sightings and notices come with their own migrations.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

BigId = BigInteger().with_variant(Integer, "sqlite")
"""A 64-bit key that SQLite still treats as its auto-incrementing rowid."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    ADMIN = "admin"
    NGO = "ngo"
    PLATFORM = "platform"


class CaseStatus(enum.StrEnum):
    RECEIVED = "received"
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    DELETED = "deleted"


class CaseSource(enum.StrEnum):
    NGO = "ngo"
    SELF_SERVICE = "self_service"


class ChangeOp(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    pdq_threshold: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    organisation: Mapped[Organisation | None] = relationship()


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.RECEIVED.value)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(
        String(16), default=CaseSource.NGO.value, server_default=CaseSource.NGO.value
    )
    """Who opened the case: an NGO, or the victim on the self-service page."""

    organisation: Mapped[Organisation] = relationship()


class Fingerprint(Base):
    __tablename__ = "fingerprints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    pipeline: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaseFingerprint(Base):
    __tablename__ = "case_fingerprints"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    fingerprint_id: Mapped[str] = mapped_column(
        ForeignKey("fingerprints.id"), primary_key=True, index=True
    )
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Hash(Base):
    __tablename__ = "hashes"
    __table_args__ = (UniqueConstraint("signal", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    signal: Mapped[str] = mapped_column(String(16))
    value: Mapped[bytes | None] = mapped_column(LargeBinary(64))
    """``None`` once erased (:mod:`empreinte.store.erase`)."""
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    inactive_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """When no live fingerprint held the value any more: erased after a grace period."""


class FingerprintHash(Base):
    __tablename__ = "fingerprint_hashes"

    fingerprint_id: Mapped[str] = mapped_column(ForeignKey("fingerprints.id"), primary_key=True)
    hash_id: Mapped[int] = mapped_column(ForeignKey("hashes.id"), primary_key=True, index=True)
    quality: Mapped[int | None] = mapped_column(Integer)


class Change(Base):
    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_hash_id", "hash_id"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hash_id: Mapped[int] = mapped_column(ForeignKey("hashes.id"))
    signal: Mapped[str] = mapped_column(String(16))
    value: Mapped[bytes] = mapped_column(LargeBinary(64))
    op: Mapped[str] = mapped_column(String(8))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MatchEvent(Base):
    """One match found for a platform's query or by the crawler, for the NGO to see."""

    __tablename__ = "match_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    fingerprint_id: Mapped[str] = mapped_column(ForeignKey("fingerprints.id"), index=True)
    signal: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int | None] = mapped_column(Integer)
    """Bits apart, for a hash signal."""
    inliers: Mapped[int | None] = mapped_column(Integer)
    """Verified feature matches, for local features."""
    confidence: Mapped[float] = mapped_column(Float)
    query_share: Mapped[float | None] = mapped_column(Float)
    """For a video: the share of the query's duration that matched."""
    registered_share: Mapped[float | None] = mapped_column(Float)
    """For a video: the share of the registered video's duration found in the query."""
    query_range: Mapped[list[float] | None] = mapped_column(JSON)
    """For a video: ``[start, end]`` seconds of the query that matched."""
    registered_range: Mapped[list[float] | None] = mapped_column(JSON)
    """For a video: ``[start, end]`` seconds of the registered video that were found."""
    feedback: Mapped[str | None] = mapped_column(String(16))
    feedback_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Who did what, when: every admin, NGO and victim action, and every match query."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LocalFeatureSet(Base):
    """The local features (capped ORB descriptors) of a fingerprint, behind an ``orb`` hash row.

    The ``hashes`` row holds the SHA-256 of the blob, so the change log and the
    activeness rules treat features like any other signal.
    """

    __tablename__ = "local_features"

    hash_id: Mapped[int] = mapped_column(BigId, ForeignKey("hashes.id"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class SelfServiceChallenge(Base):
    """A proof-of-work challenge handed to the victim's page: spent once, or expired."""

    __tablename__ = "self_service_challenges"

    challenge: Mapped[str] = mapped_column(String(64), primary_key=True)
    bits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class ThrottleBucket(Base):
    """Attempts counted per key (a case's PIN, a client) in the current window."""

    __tablename__ = "throttle_buckets"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)

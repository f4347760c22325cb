"""Map the console's tables: people, their sessions and invitations, preferences, review leases.

* ``users``: a person of an organisation, with a role, an argon2id password hash
  and an optional TOTP secret;
* ``console_sessions``: server-side sessions, by the SHA-256 of their token;
* ``sign_in_throttle``: failed sign-ins per account and per client;
* ``invitations``: one-time links an organisation admin sends;
* ``console_preferences``: an organisation's default blur and greyscale;
* ``review_leases``: which reviewer holds a queued notice, until when.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from empreinte.store.models import Base, utcnow

BLUR_DEFAULT: Final = 24
"""Pixels of blur over found images, unless the organisation or the person chose otherwise."""


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    blur: Mapped[int | None] = mapped_column(Integer)
    greyscale: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ThrottleEntry(Base):
    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Invitation(Base):
    __tablename__ = "invitations"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    invited_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Preferences(Base):
    __tablename__ = "console_preferences"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    blur: Mapped[int] = mapped_column(Integer, default=BLUR_DEFAULT)
    greyscale: Mapped[bool] = mapped_column(Boolean, default=True)


class ReviewLease(Base):
    """Which reviewer holds a queued notice, until when."""

    __tablename__ = "review_leases"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    lease_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

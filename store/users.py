"""Keep the console's people: accounts, server-side sessions, sign-in throttling, invitations.

People sign in to the console; machines keep their API keys (:mod:`keys`).

* ``users``: one person of one organisation, with a role, an argon2id password
  hash, an optional TOTP secret, a language, and wellness overrides.
* ``console_sessions``: a signed-in browser; the cookie's token is stored only
  as a SHA-256, with the session's CSRF token, expiry and revocation.
* ``sign_in_throttle``: failed sign-ins per account and per client in a window,
  counted with one atomic upsert so parallel guesses cannot race past it.
* ``invitations``: a one-time link by which an invited person sets a password.
* ``console_preferences``: an organisation's default blur and greyscale.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from empreinte.errors import EmpreinteError
from empreinte.store import models as m
from empreinte.store.models.console import (
    BLUR_DEFAULT,
    ConsoleSession,
    Invitation,
    Preferences,
    ThrottleEntry,
    User,
)
from empreinte.store.registry import Conflict, NotFound, get_or_create_organisation, utc

SESSION_TTL: Final = dt.timedelta(hours=8)
INVITATION_TTL: Final = dt.timedelta(days=7)
THROTTLE_WINDOW: Final = dt.timedelta(minutes=15)
FAILURES_PER_ACCOUNT: Final = 5
FAILURES_PER_CLIENT: Final = 20
MIN_PASSWORD: Final = 12
"""Pixels of blur over a found image until the reviewer unblurs it."""

_HASHER: Final = PasswordHasher()
_DUMMY_HASH: Final = _HASHER.hash("not a password of anyone")
_TOTP_SECRET: Final = re.compile(r"[A-Z2-7]{32}")


class UserRole(enum.StrEnum):
    CASE_WORKER = "case_worker"
    REVIEWER = "reviewer"
    ORG_ADMIN = "org_admin"


class SignInRefused(EmpreinteError):
    """The email, password or one-time code is wrong, or the account cannot sign in."""


class Throttled(EmpreinteError):
    """Too many failed sign-ins for this account or client: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {round(retry_after)} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Wellness:
    """How found images are shown to one person: blur in pixels, and greyscale."""

    blur: int
    greyscale: bool


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A valid console session and its person."""

    user: User
    csrf: str
    expires_at: dt.datetime

    @property
    def actor(self) -> str:
        return f"user:{self.user.id}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """Return a one-time password of 20 readable characters."""
    return secrets.token_urlsafe(15)


def check_password_rule(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 1024:
        raise Conflict(f"a password has {MIN_PASSWORD} to 1024 characters")


def create_user(
    session: Session,
    organisation: str,
    email: str,
    role: UserRole,
    *,
    password: str | None = None,
    language: str = "fr",
) -> User:
    """Create a person of ``organisation`` (an NGO); without a password they cannot sign in yet."""
    email = normalise_email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"an account for {email} exists already")
    org = get_or_create_organisation(session, organisation, "ngo")
    user = User(organisation_id=org.id, email=email, role=role.value, language=language)
    if password is not None:
        check_password_rule(password)
        user.password_hash = _HASHER.hash(password)
    session.add(user)
    session.flush()
    return user


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > 320
        or any(c in email for c in " <>")
    ):
        raise Conflict(f"not an email address: {email[:100]!r}")
    return email


def set_password(session: Session, user: User, password: str) -> None:
    check_password_rule(password)
    user.password_hash = _HASHER.hash(password)
    session.flush()


def enable_totp(session: Session, user: User) -> str:
    """Give ``user`` a new TOTP secret and return its provisioning URI for an authenticator."""
    user.totp_secret = pyotp.random_base32()
    session.flush()
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name="Empreinte")


def new_totp(email: str) -> tuple[str, str]:
    """Return a fresh TOTP secret and its provisioning URI, not yet given to anyone."""
    secret = pyotp.random_base32()
    return secret, totp_uri(email, secret)


def totp_uri(email: str, secret: str) -> str:
    """Return the provisioning URI an authenticator reads for ``secret``."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="Empreinte")


def valid_secret(secret: str) -> bool:
    """Say whether ``secret`` has the form of the secrets :func:`new_totp` makes."""
    return _TOTP_SECRET.fullmatch(secret) is not None


def confirm_totp(session: Session, user: User, secret: str, code: str, now: dt.datetime) -> None:
    """Turn on ``user``'s TOTP with ``secret`` once ``code`` shows their authenticator holds it."""
    if user.totp_secret is not None:
        raise Conflict("two-step sign-in is already on")
    if not valid_secret(secret) or not pyotp.TOTP(secret).verify(
        code.strip(), for_time=now, valid_window=1
    ):
        raise Conflict("wrong one-time code")
    user.totp_secret = secret
    session.flush()


def disable_totp(session: Session, user: User, code: str, now: dt.datetime) -> None:
    """Turn off ``user``'s TOTP, given a current code from their authenticator."""
    if user.totp_secret is None:
        raise Conflict("two-step sign-in is off")
    if not pyotp.TOTP(user.totp_secret).verify(code.strip(), for_time=now, valid_window=1):
        raise Conflict("wrong one-time code")
    user.totp_secret = None
    session.flush()


def sign_in(
    session: Session,
    email: str,
    password: str,
    *,
    client: str,
    code: str | None,
    now: dt.datetime,
) -> User:
    """Return the person whose credentials these are; raise :class:`Throttled` or refuse.

    A failure is counted in the caller's transaction, which must commit it even
    when this raises :class:`SignInRefused`.
    """
    keys = [f"account:{email.strip().lower()[:320]}", f"client:{client[:64]}"]
    wait = _throttle_wait(session, keys, now)
    if wait > 0:
        raise Throttled(wait)
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    right = _verify(stored, password)
    if user is None or not right or user.disabled_at is not None or user.password_hash is None:
        _fail(session, keys, now)
        raise SignInRefused("wrong email or password")
    totp = pyotp.TOTP(user.totp_secret) if user.totp_secret else None
    if totp is not None and not totp.verify(code or "", for_time=now, valid_window=1):
        _fail(session, keys, now)
        raise SignInRefused("wrong one-time code")
    if _HASHER.check_needs_rehash(stored):
        user.password_hash = _HASHER.hash(password)
    session.execute(delete(ThrottleEntry).where(ThrottleEntry.key == keys[0]))
    return user


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _throttle_wait(session: Session, keys: list[str], now: dt.datetime) -> float:
    limits = dict(zip(keys, (FAILURES_PER_ACCOUNT, FAILURES_PER_CLIENT), strict=True))
    wait = 0.0
    for entry in session.scalars(select(ThrottleEntry).where(ThrottleEntry.key.in_(keys))):
        ends = utc(entry.window_start) + THROTTLE_WINDOW
        if entry.failures >= limits[entry.key] and ends > now:
            wait = max(wait, (ends - now).total_seconds())
    return wait


def _fail(session: Session, keys: list[str], now: dt.datetime) -> None:
    """Count one failure per key with an atomic upsert; a stale window starts again."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stale = ThrottleEntry.window_start < now - THROTTLE_WINDOW
    for key in keys:
        statement = insert(ThrottleEntry).values(key=key, failures=1, window_start=now)
        statement = statement.on_conflict_do_update(
            index_elements=[ThrottleEntry.key],
            set_={
                "failures": case((stale, 1), else_=ThrottleEntry.failures + 1),
                "window_start": case((stale, now), else_=ThrottleEntry.window_start),
            },
        )
        session.execute(statement)


def open_session(session: Session, user: User, now: dt.datetime) -> tuple[str, str]:
    """Start a console session for ``user``; return the cookie's token and the CSRF token."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=digest(token),
            user_id=user.id,
            csrf=csrf,
            created_at=now,
            expires_at=now + SESSION_TTL,
        )
    )
    session.flush()
    return token, csrf


def signed_in(session: Session, token: str, now: dt.datetime) -> SignedIn | None:
    """Return the session of ``token`` if it is live and its person active, else None."""
    if not token or len(token) > 200:
        return None
    row = session.get(ConsoleSession, digest(token))
    if row is None or row.revoked_at is not None or utc(row.expires_at) <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return SignedIn(user, row.csrf, utc(row.expires_at))


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def sign_out(session: Session, token: str, now: dt.datetime) -> None:
    row = session.get(ConsoleSession, digest(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = now


def invite(
    session: Session, admin: User, email: str, role: UserRole, now: dt.datetime
) -> tuple[User, str]:
    """Create an account in the admin's organisation; return it and the invitation's token."""
    if admin.role != UserRole.ORG_ADMIN.value:
        raise Conflict("only an organisation admin invites")
    org = session.get_one(m.Organisation, admin.organisation_id)
    user = create_user(session, org.name, email, role, language=admin.language)
    token = secrets.token_urlsafe(32)
    session.add(
        Invitation(
            token_hash=digest(token),
            user_id=user.id,
            invited_by=admin.id,
            expires_at=now + INVITATION_TTL,
        )
    )
    session.flush()
    return user, token


def accept_invitation(session: Session, token: str, password: str, now: dt.datetime) -> User:
    """Set the invited person's password, once; the link then stops working."""
    row = session.get(Invitation, digest(token)) if token and len(token) < 200 else None
    if row is None or row.used_at is not None or utc(row.expires_at) <= now:
        raise NotFound("this invitation link is unknown, used or expired")
    user = session.get_one(User, row.user_id)
    set_password(session, user, password)
    row.used_at = now
    return user


def members(session: Session, organisation_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User).where(User.organisation_id == organisation_id).order_by(User.email)
        )
    )


def wellness(session: Session, user: User) -> Wellness:
    """Return how ``user`` sees found images: their override, else the organisation's default."""
    default = session.get(Preferences, user.organisation_id)
    blur = default.blur if default is not None else BLUR_DEFAULT
    grey = default.greyscale if default is not None else True
    return Wellness(
        blur=user.blur if user.blur is not None else blur,
        greyscale=user.greyscale if user.greyscale is not None else grey,
    )


def set_wellness(
    session: Session, user: User, *, blur: int | None, greyscale: bool | None, for_org: bool
) -> None:
    """Set the person's own override, or (an admin, ``for_org``) the organisation's default."""
    if blur is not None and not 0 <= blur <= 60:
        raise Conflict("blur is 0 to 60 pixels")
    if not for_org:
        user.blur, user.greyscale = blur, greyscale
        return
    if user.role != UserRole.ORG_ADMIN.value:
        raise Conflict("only an organisation admin sets the organisation's default")
    row = session.get(Preferences, user.organisation_id)
    if row is None:
        row = Preferences(organisation_id=user.organisation_id)
        session.add(row)
    row.blur = BLUR_DEFAULT if blur is None else blur
    row.greyscale = True if greyscale is None else greyscale

"""Create, check, rotate and revoke API keys; keys are stored only as hashes."""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from empreinte.store import models as m
from empreinte.store.registry import Conflict, NotFound, get_or_create_organisation, utc
from empreinte.store.secrets import hash_api_secret, new_api_key, split_api_key

_ORG_KIND = {m.Role.NGO: "ngo", m.Role.PLATFORM: "platform"}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key's role and organisation."""

    key_prefix: str
    role: m.Role
    organisation_id: int | None
    pdq_threshold: int | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.key_prefix}"


def create_key(
    session: Session,
    role: m.Role,
    organisation: str | None = None,
    *,
    label: str | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[m.ApiKey, str]:
    """Create a key; return its row and the key itself, which is shown only once."""
    org_id = None
    if role is m.Role.ADMIN:
        if organisation:
            raise Conflict("an admin key belongs to no organisation")
    else:
        if not organisation:
            raise Conflict(f"a {role} key needs an organisation")
        org_id = get_or_create_organisation(session, organisation, _ORG_KIND[role]).id
    key, prefix, secret_hash = new_api_key()
    row = m.ApiKey(
        prefix=prefix,
        secret_hash=secret_hash,
        role=role.value,
        organisation_id=org_id,
        label=label,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, key


def authenticate(session: Session, key: str, now: dt.datetime | None = None) -> Principal | None:
    """Return the principal of a valid, unrevoked, unexpired key, else None."""
    parts = split_api_key(key)
    if parts is None:
        return None
    prefix, secret = parts
    row = session.scalar(select(m.ApiKey).where(m.ApiKey.prefix == prefix))
    if row is None or not hmac.compare_digest(row.secret_hash, hash_api_secret(secret)):
        return None
    moment = now or m.utcnow()
    if row.revoked_at is not None and utc(row.revoked_at) <= moment:
        return None
    if row.expires_at is not None and utc(row.expires_at) <= moment:
        return None
    threshold = row.organisation.pdq_threshold if row.organisation is not None else None
    return Principal(row.prefix, m.Role(row.role), row.organisation_id, threshold)


def revoke_key(session: Session, prefix: str) -> m.ApiKey:
    """Revoke a key at once."""
    row = session.scalar(select(m.ApiKey).where(m.ApiKey.prefix == prefix))
    if row is None:
        raise NotFound(f"no key with prefix {prefix}")
    if row.revoked_at is None:
        row.revoked_at = m.utcnow()
    return row


def rotate_key(session: Session, prefix: str, grace: dt.timedelta) -> tuple[m.ApiKey, str]:
    """Issue a new key with the same role and organisation; the old one ends after ``grace``."""
    old = session.scalar(select(m.ApiKey).where(m.ApiKey.prefix == prefix))
    if old is None or old.revoked_at is not None:
        raise NotFound(f"no active key with prefix {prefix}")
    org = session.get(m.Organisation, old.organisation_id) if old.organisation_id else None
    new, key = create_key(session, m.Role(old.role), org.name if org else None, label=old.label)
    old.revoked_at = m.utcnow() + grace
    return new, key


def list_keys(session: Session) -> list[m.ApiKey]:
    return list(session.scalars(select(m.ApiKey).order_by(m.ApiKey.id)))

"""Admin routes: create, list, rotate and revoke API keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from empreinte.api.deps import AdminDep, SessionDep, StateDep
from empreinte.api.schemas import KeyCreate, KeyCreated, KeyPublic
from empreinte.store import audit, keys
from empreinte.store import models as m

router = APIRouter(prefix="/v1/keys", tags=["keys (admin)"])


def _public(session: SessionDep, row: m.ApiKey) -> KeyPublic:
    org = session.get(m.Organisation, row.organisation_id) if row.organisation_id else None
    return KeyPublic(
        prefix=row.prefix,
        role=row.role,
        organisation=org.name if org else None,
        label=row.label,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


@router.post("", status_code=201, response_model=KeyCreated)
def create(body: KeyCreate, principal: AdminDep, session: SessionDep) -> KeyCreated:
    """Create a key; the key itself is in this answer only."""
    with session.begin():
        row, key = keys.create_key(session, m.Role(body.role), body.organisation, label=body.label)
        audit.record(session, principal.actor, "key.create", target=row.prefix, role=body.role)
        public = _public(session, row)
    return KeyCreated(**public.model_dump(), key=key)


@router.get("", response_model=list[KeyPublic])
def list_all(principal: AdminDep, session: SessionDep) -> list[KeyPublic]:
    """List every key (prefixes only; secrets are never stored)."""
    return [_public(session, row) for row in keys.list_keys(session)]


@router.post("/{prefix}/revoke", response_model=KeyPublic)
def revoke(prefix: str, principal: AdminDep, session: SessionDep, state: StateDep) -> KeyPublic:
    """Revoke a key: it is refused from the next request on."""
    with session.begin():
        row = keys.revoke_key(session, prefix)
        audit.record(session, principal.actor, "key.revoke", target=prefix)
        public = _public(session, row)
    state.keys.clear()
    return public


@router.post("/{prefix}/rotate", status_code=201, response_model=KeyCreated)
def rotate(
    prefix: str,
    principal: AdminDep,
    session: SessionDep,
    state: StateDep,
    grace_seconds: Annotated[int, Query(ge=0, le=30 * 86400)] = 3600,
) -> KeyCreated:
    """Issue a replacement key; the old one keeps working for ``grace_seconds``."""
    with session.begin():
        row, key = keys.rotate_key(session, prefix, dt.timedelta(seconds=grace_seconds))
        audit.record(session, principal.actor, "key.rotate", target=prefix, new=row.prefix)
        public = _public(session, row)
    state.keys.clear()
    return KeyCreated(**public.model_dump(), key=key)

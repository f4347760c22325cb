"""Negative-list routes: URLs and hash values marked benign, so their matches are not notified.

Entries have owners. An NGO's entry holds back only its own notices; a
platform's entry waits for an admin; an admin's entry, or one an admin has
verified, holds back everyone's. Each organisation lists and deletes only its
own entries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from empreinte.api.deps import AdminDep, AnyRoleDep, SessionDep
from empreinte.api.problems import Problem
from empreinte.api.schemas import NegativeCreate, NegativePublic
from empreinte.errors import SignalError
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.net.urls import http_url
from empreinte.notices import contacts, safety
from empreinte.store import audit
from empreinte.store import models as m
from empreinte.store.keys import Principal
from empreinte.store.models.notices import NegativeEntry

router = APIRouter(prefix="/v1/negative-list", tags=["negative list"])

EntryId = Annotated[int, Path(ge=1, le=2**62)]


def _owner(principal: Principal) -> int | None:
    return None if principal.role is m.Role.ADMIN else principal.organisation_id


@router.post("", status_code=201, response_model=NegativePublic)
def add_negative(
    body: NegativeCreate, principal: AnyRoleDep, session: SessionDep
) -> NegativePublic:
    """Mark a URL or a hash value benign, with a reason; its matches are no longer notified.

    A platform may list URLs only on its own verified domains, and its entries
    take effect once an admin verifies them. A hash value holds back registered
    images that are near-exact copies of it (PDQ within 10 bits).
    """
    url, signal, value = _target(body)
    if principal.role is not m.Role.ADMIN and principal.organisation_id is None:
        raise Problem(403, "Forbidden", "this key belongs to no organisation")
    with session.begin():
        platform = principal.role is m.Role.PLATFORM
        if (
            url
            and platform
            and not contacts.platform_covers(session, principal.organisation_id, url)
        ):
            raise Problem(403, "Forbidden", "a platform may list only URLs on its own domains")
        entry = safety.add_negative(
            session,
            reason=body.reason,
            actor=principal.actor,
            organisation_id=principal.organisation_id,
            now=m.utcnow(),
            verified=principal.role is m.Role.ADMIN,
            url=url,
            signal=signal,
            value=value,
        )
        audit.record(
            session,
            principal.actor,
            "negative.add",
            organisation_id=principal.organisation_id,
            target=str(entry.id),
        )
        return _public(entry)


def _target(body: NegativeCreate) -> tuple[str | None, SignalType | None, bytes | None]:
    if (body.url is None) == (body.value is None):
        raise Problem(422, "Invalid request", "give either a url, or a signal and a value")
    if body.url is not None:
        return http_url(body.url), None, None
    try:
        parsed = HashValue.parse(body.signal or "", body.value or "")
    except SignalError as exc:
        raise Problem(422, "Invalid hash", str(exc)) from exc
    return None, parsed.signal, parsed.raw


def _public(entry: NegativeEntry) -> NegativePublic:
    return NegativePublic(
        entry_id=entry.id,
        url=entry.url,
        signal=entry.signal,
        value=entry.value.hex() if entry.value else None,
        reason=entry.reason,
        verified=entry.verified_at is not None,
        created_at=entry.created_at,
    )


@router.get("", response_model=list[NegativePublic])
def list_negative(
    principal: AnyRoleDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[NegativePublic]:
    """Your entries, newest first (an admin sees every one)."""
    owner = _owner(principal)
    if owner is None and principal.role is not m.Role.ADMIN:
        return []
    rows = safety.list_negative(session, owner, limit=limit, offset=offset)
    return [_public(e) for e in rows]


@router.delete("/{entry_id}", status_code=204)
def delete_negative(entry_id: EntryId, principal: AnyRoleDep, session: SessionDep) -> None:
    """Delete one of your entries (an admin may delete any); later sightings are notified again."""
    owner = _owner(principal)
    if owner is None and principal.role is not m.Role.ADMIN:
        raise Problem(404, "Not found", "no such negative-list entry")
    with session.begin():
        safety.delete_negative(session, entry_id, owner)
        audit.record(
            session,
            principal.actor,
            "negative.delete",
            organisation_id=principal.organisation_id,
            target=str(entry_id),
        )


@router.post("/{entry_id}/verify", response_model=NegativePublic)
def verify_negative(entry_id: EntryId, principal: AdminDep, session: SessionDep) -> NegativePublic:
    """Let an entry hold back every NGO's notices, after review (admin only)."""
    with session.begin():
        entry = safety.verify_negative(session, entry_id, actor=principal.actor, now=m.utcnow())
        audit.record(session, principal.actor, "negative.verify", target=str(entry_id))
        return _public(entry)

"""Dependencies of the routes: the session, and who the caller is. Permissions live here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from empreinte.api.problems import Problem
from empreinte.api.state import AppState
from empreinte.store import models as m
from empreinte.store.keys import Principal, authenticate


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.empreinte
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(request: Request, state: StateDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Problem(
            401,
            "Authentication required",
            "send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = key.strip()
    principal = state.keys.get(key)
    if principal is None:
        with state.sessions() as session:
            principal = authenticate(session, key)
        if principal is not None:
            state.keys.put(key, principal)
    if principal is None:
        raise Problem(
            401,
            "Invalid API key",
            "the key is unknown, revoked or expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    wait = state.rate.take(principal.key_prefix)
    if wait > 0:
        raise Problem(
            429,
            "Too many requests",
            "this key is over its rate limit",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    return principal


def _role(*roles: m.Role) -> object:
    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise Problem(403, "Forbidden", f"this route needs a key of role {allowed}")
        return principal

    return Depends(check)


AdminDep = Annotated[Principal, _role(m.Role.ADMIN)]
NgoDep = Annotated[Principal, _role(m.Role.NGO)]
PlatformDep = Annotated[Principal, _role(m.Role.PLATFORM)]
NgoOrAdminDep = Annotated[Principal, _role(m.Role.NGO, m.Role.ADMIN)]
AnyRoleDep = Annotated[Principal, _role(m.Role.NGO, m.Role.PLATFORM, m.Role.ADMIN)]

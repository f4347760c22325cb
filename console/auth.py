"""Know who is looking at a console page, and refuse forged or unauthorised changes.

A signed-in browser holds one cookie (HttpOnly, SameSite=Strict, path
``/console``, Secure over https) whose token the database stores as a hash.
Every change is a POST that carries the session's CSRF token (a form field, or
the ``X-CSRF-Token`` header from the script) and, when the browser sends them,
same-origin ``Origin`` and ``Sec-Fetch-Site`` headers. Permissions by role live
here, in :data:`MAY`, and nowhere else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request
from starlette.responses import Response

from empreinte.api.state import AppState
from empreinte.console.i18n import Language, from_header, language_of
from empreinte.store import models as m
from empreinte.store import users
from empreinte.store.users import SignedIn, UserRole, Wellness

COOKIE: Final = "empreinte_console"
PRE_COOKIE: Final = "empreinte_console_pre"
LANG_COOKIE: Final = "empreinte_console_lang"
PATH: Final = "/console"

R = UserRole
MAY: Final[dict[str, frozenset[UserRole]]] = {
    "cases.change": frozenset({R.CASE_WORKER, R.ORG_ADMIN}),
    "review": frozenset({R.REVIEWER, R.ORG_ADMIN}),
    "admin": frozenset({R.ORG_ADMIN}),
}


class SignInNeeded(Exception):
    """No live session: never signed in, signed out, or expired."""


class Forbidden(Exception):
    """The person's role does not allow this action."""


class ForgedRequest(Exception):
    """A change without this session's CSRF token, or from another site."""


@dataclass(frozen=True, slots=True)
class Person:
    """A signed-in person as the pages need them."""

    state: AppState
    me: SignedIn
    language: Language
    wellness: Wellness

    @property
    def organisation_id(self) -> int:
        return self.me.user.organisation_id

    @property
    def actor(self) -> str:
        return self.me.actor

    @property
    def role(self) -> str:
        return self.me.user.role

    def may(self, action: str) -> bool:
        return UserRole(self.me.user.role) in MAY[action]

    def require(self, action: str) -> None:
        if not self.may(action):
            raise Forbidden(action)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.parent.state.empreinte
    return state


def guest_language(request: Request) -> Language:
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie:
        return language_of(cookie)
    return from_header(request.headers.get("accept-language", ""))


def person(request: Request) -> Person:
    """Return the signed-in person; raise :class:`SignInNeeded` otherwise."""
    state = app_state(request)
    token = request.cookies.get(COOKIE, "")
    with state.sessions() as session:
        me = users.signed_in(session, token, m.utcnow()) if token else None
        if me is None:
            raise SignInNeeded
        care = users.wellness(session, me.user)
        session.expunge_all()
    return Person(state, me, language_of(me.user.language), care)


PersonDep = Annotated[Person, Depends(person)]


def same_origin(request: Request) -> bool:
    """Say whether the browser's own headers place this request on our site.

    ``Sec-Fetch-Site`` is set by the browser and cannot be forged by a page; a
    browser without it is judged by ``Origin``. A client sending neither (not
    a browser) still needs the CSRF token.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


async def form(request: Request, who: Person) -> dict[str, str]:
    """Return the POSTed form after checking its CSRF token and origin."""
    fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    check(request, who.me.csrf, fields.get("csrf") or request.headers.get("x-csrf-token"))
    return fields


def check(request: Request, expected: str, given: str | None) -> None:
    if not same_origin(request) or not users.csrf_matches(expected, given):
        raise ForgedRequest


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(users.SESSION_TTL.total_seconds()),
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def pre_token(request: Request) -> str:
    """Return the sign-in form's CSRF token (a double-submit cookie before any session)."""
    return request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)


def set_pre_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        PRE_COOKIE,
        token,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def set_language_cookie(request: Request, response: Response, language: Language) -> None:
    response.set_cookie(
        LANG_COOKIE,
        language,
        max_age=365 * 86400,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )

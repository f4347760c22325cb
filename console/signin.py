"""Sign in and out, accept an invitation, and switch the console's language."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from empreinte.console import auth
from empreinte.console.i18n import Language, language_of
from empreinte.console.pages import HEADERS, render
from empreinte.store import audit, users
from empreinte.store import models as m
from empreinte.store.models import console as console_tables
from empreinte.store.registry import Conflict, NotFound

router = APIRouter()


def page(
    request: Request,
    language: Language,
    error: str | None = None,
    *,
    status: int = 200,
    **more: Any,
) -> Response:
    token = auth.pre_token(request)
    response = render(
        request, "signin.html", language, code=status, error=error, pre=token, me=None, **more
    )
    auth.set_pre_cookie(request, response, token)
    return response


@router.get("/")
def home() -> Response:
    return RedirectResponse("/console/cases", status_code=303, headers=HEADERS)


@router.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    return page(request, auth.guest_language(request))


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the credentials (throttled per account and client) and start a session."""
    fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    language = auth.guest_language(request)
    expected = request.cookies.get(auth.PRE_COOKIE, "")
    if not expected or not auth.same_origin(request):
        raise auth.ForgedRequest
    auth.check(request, expected, fields.get("csrf"))
    client = request.client.host if request.client else "unknown"
    state = auth.app_state(request)

    def work() -> tuple[str | None, str | None]:
        with state.sessions.begin() as session:
            try:
                user = users.sign_in(
                    session,
                    fields.get("email", ""),
                    fields.get("password", ""),
                    client=client,
                    code=fields.get("code") or None,
                    now=m.utcnow(),
                )
            except users.Throttled:
                return None, "signin.throttled"
            except users.SignInRefused as exc:
                return None, "signin.bad_code" if "code" in str(exc) else "signin.wrong"
            token, _ = users.open_session(session, user, m.utcnow())
            audit.record(
                session, f"user:{user.id}", "console.sign_in", organisation_id=user.organisation_id
            )
            return token, None

    token, error = await run_in_threadpool(work)
    if token is None:
        return page(request, language, error, status=401 if error != "signin.throttled" else 429)
    response = RedirectResponse("/console/cases", status_code=303, headers=HEADERS)
    auth.set_session_cookie(request, response, token)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, who: auth.PersonDep) -> Response:
    await auth.form(request, who)
    token = request.cookies.get(auth.COOKIE, "")
    with who.state.sessions.begin() as session:
        users.sign_out(session, token, m.utcnow())
        audit.record(session, who.actor, "console.sign_out", organisation_id=who.organisation_id)
    response = page(request, who.language, None, signed_out=True)
    response.delete_cookie(auth.COOKIE, path=auth.PATH)
    return response


@router.post("/language")
async def switch_language(request: Request) -> Response:
    """Switch the language: the person's own setting when signed in, else a cookie."""
    fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    language = language_of(fields.get("lang"))
    back = fields.get("back", "")
    target = back if back.startswith("/console/") and "//" not in back else "/console/cases"
    try:
        who = auth.person(request)
    except auth.SignInNeeded:
        who = None
    if who is not None:
        auth.check(request, who.me.csrf, fields.get("csrf"))
        with who.state.sessions.begin() as session:
            session.get_one(console_tables.User, who.me.user.id).language = language
    elif not auth.same_origin(request):
        raise auth.ForgedRequest
    response = RedirectResponse(target, status_code=303, headers=HEADERS)
    auth.set_language_cookie(request, response, language)
    return response


@router.get("/invitation/{token}")
def invitation_page(request: Request, token: str) -> Response:
    return _invitation(request, token, None)


def _invitation(request: Request, token: str, error: str | None, status: int = 200) -> Response:
    pre = auth.pre_token(request)
    response = render(
        request,
        "invitation.html",
        auth.guest_language(request),
        code=status,
        token=token,
        error=error,
        pre=pre,
        me=None,
    )
    auth.set_pre_cookie(request, response, pre)
    return response


@router.post("/invitation/{token}")
async def accept(request: Request, token: str) -> Response:
    """Set the invited person's password; the link works once."""
    fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    auth.check(request, request.cookies.get(auth.PRE_COOKIE, "") or "-", fields.get("csrf"))
    password = fields.get("password", "")
    if password != fields.get("again", ""):
        return _invitation(request, token, "invitation.mismatch", 422)
    state = auth.app_state(request)
    try:
        with state.sessions.begin() as session:
            user = users.accept_invitation(session, token, password, m.utcnow())
            audit.record(
                session,
                f"user:{user.id}",
                "console.invitation",
                organisation_id=user.organisation_id,
            )
    except NotFound:
        return _invitation(request, token, "invitation.unknown", 404)
    except Conflict:
        return _invitation(request, token, "invitation.weak", 422)
    return page(request, auth.guest_language(request), None, welcome=True)

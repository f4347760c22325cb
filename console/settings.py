"""Settings: a person's wellness and language; an admin's organisation default and invitations."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from empreinte.console import auth
from empreinte.console.i18n import language_of
from empreinte.console.pages import HEADERS, render
from empreinte.store import audit, users
from empreinte.store import models as m
from empreinte.store.models import console as console_tables
from empreinte.store.registry import Conflict
from empreinte.store.users import UserRole

router = APIRouter()


def _page(request: Request, who: auth.Person, status: int = 200, **extra: object) -> Response:
    with who.state.sessions() as session:
        people = users.members(session, who.organisation_id) if who.may("admin") else []
        default = session.get(console_tables.Preferences, who.organisation_id)
        session.expunge_all()
    return render(
        request,
        "settings.html",
        who.language,
        code=status,
        me=who,
        people=people,
        default=default,
        blur_default=console_tables.BLUR_DEFAULT,
        roles=[r.value for r in UserRole],
        **extra,
    )


@router.get("/settings")
def settings_page(request: Request, who: auth.PersonDep) -> Response:
    return _page(request, who)


def _blur(value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        return -1


@router.post("/settings/wellness")
async def wellness(request: Request, who: auth.PersonDep) -> Response:
    """Set the person's own blur, greyscale and language, or the organisation's default."""
    fields = await auth.form(request, who)
    for_org = fields.get("scope") == "organisation"
    if for_org:
        who.require("admin")
    grey = {"on": True, "off": False}.get(fields.get("greyscale", ""))
    with who.state.sessions.begin() as session:
        user = session.get_one(console_tables.User, who.me.user.id)
        users.set_wellness(
            session, user, blur=_blur(fields.get("blur")), greyscale=grey, for_org=for_org
        )
        if not for_org and fields.get("lang"):
            user.language = language_of(fields.get("lang"))
        audit.record(
            session, who.actor, "console.wellness", organisation_id=who.organisation_id, org=for_org
        )
    return RedirectResponse("/console/settings?saved=1", status_code=303, headers=HEADERS)


@router.post("/settings/totp")
async def totp_start(request: Request, who: auth.PersonDep) -> Response:
    """Show a new TOTP secret to add to an authenticator; it is on once a code confirms it."""
    await auth.form(request, who)
    secret, uri = users.new_totp(who.me.user.email)
    return _page(request, who, totp_secret=secret, totp_uri=uri)


@router.post("/settings/totp/confirm")
async def totp_confirm(request: Request, who: auth.PersonDep) -> Response:
    """Turn on two-step sign-in when the code matches the secret just shown."""
    fields = await auth.form(request, who)
    secret = fields.get("secret", "")
    try:
        with who.state.sessions.begin() as session:
            user = session.get_one(console_tables.User, who.me.user.id)
            users.confirm_totp(session, user, secret, fields.get("code", ""), m.utcnow())
            audit.record(session, who.actor, "console.totp_on", organisation_id=who.organisation_id)
    except Conflict:
        uri = users.totp_uri(who.me.user.email, secret) if users.valid_secret(secret) else None
        if uri is None:
            return _page(request, who, 422, totp_error="totp.bad_code")
        return _page(
            request, who, 422, totp_error="totp.bad_code", totp_secret=secret, totp_uri=uri
        )
    return RedirectResponse("/console/settings?totp=on", status_code=303, headers=HEADERS)


@router.post("/settings/totp/disable")
async def totp_disable(request: Request, who: auth.PersonDep) -> Response:
    """Turn off two-step sign-in, given a current code."""
    fields = await auth.form(request, who)
    try:
        with who.state.sessions.begin() as session:
            user = session.get_one(console_tables.User, who.me.user.id)
            users.disable_totp(session, user, fields.get("code", ""), m.utcnow())
            audit.record(
                session, who.actor, "console.totp_off", organisation_id=who.organisation_id
            )
    except Conflict:
        return _page(request, who, 422, totp_error="totp.bad_code")
    return RedirectResponse("/console/settings?totp=off", status_code=303, headers=HEADERS)


@router.post("/settings/invite")
async def invite(request: Request, who: auth.PersonDep) -> Response:
    """Invite a colleague: the page shows the one-time link to send them."""
    fields = await auth.form(request, who)
    who.require("admin")
    try:
        role = UserRole(fields.get("role", ""))
    except ValueError:
        return _page(request, who, 422, invite_error="invite.bad_role")
    with who.state.sessions.begin() as session:
        admin = session.get_one(console_tables.User, who.me.user.id)
        user, token = users.invite(session, admin, fields.get("email", ""), role, m.utcnow())
        audit.record(
            session,
            who.actor,
            "console.invite",
            organisation_id=who.organisation_id,
            target=str(user.id),
            role=role.value,
        )
        email = user.email
    link = f"{request.url.scheme}://{request.url.netloc}/console/invitation/{token}"
    return _page(request, who, invited=email, link=link)

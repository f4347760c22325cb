"""The review queue: take the oldest free item, look at it safely, decide with one key.

The found image is streamed through the server's guarded HTTP client (the
crawler's, which refuses private and metadata addresses and re-checks every
connection), held in memory for the one response, and never written. The
reviewer's browser therefore never contacts the third-party host: the host
learns nothing about the help line, the page calls only its own origin (the
CSP allows ``img-src 'self'`` and nothing else), and an SVG or HTML payload
posing as an image is refused rather than rendered.
"""

from __future__ import annotations

import time

import httpx
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from empreinte.console import auth
from empreinte.console.pages import HEADERS, render
from empreinte.errors import BlockedAddress
from empreinte.net.client import TooLarge, TooSlow, read_limited, sync_client, user_agent
from empreinte.net.sniff import image_type
from empreinte.notices import queue, review
from empreinte.notices.errors import InvalidTransition
from empreinte.store import audit
from empreinte.store import models as m
from empreinte.store.models.notices import Sighting
from empreinte.store.registry import Conflict

IMAGE_BYTES = 20 * 1024 * 1024

router = APIRouter()
_SHOWN = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


@router.get("/queue")
def queue_page(request: Request, who: auth.PersonDep) -> Response:
    with who.state.sessions() as session:
        waiting = queue.waiting(session, who.organisation_id)
    return render(request, "queue.html", who.language, me=who, waiting=waiting, empty=False)


@router.post("/queue/take")
async def take(request: Request, who: auth.PersonDep) -> Response:
    """Lease the reviewer the oldest free item (or give back the one they hold)."""
    await auth.form(request, who)
    who.require("review")
    return _next(request, who)


def _next(request: Request, who: auth.Person, done: str = "") -> Response:
    with who.state.sessions.begin() as session:
        item = queue.take(session, who.organisation_id, who.me.user.id, m.utcnow())
        notice_id = item.notice.id if item else None
    if notice_id is None:
        with who.state.sessions() as session:
            waiting = queue.waiting(session, who.organisation_id)
        return render(
            request, "queue.html", who.language, me=who, waiting=waiting, empty=True, done=done
        )
    suffix = f"?done={done}" if done else ""
    return RedirectResponse(f"/console/queue/{notice_id}{suffix}", status_code=303, headers=HEADERS)


@router.get("/queue/{notice_id}")
def item_page(
    request: Request, notice_id: str, who: auth.PersonDep, shown: int = 0, done: str = ""
) -> Response:
    who.require("review")
    with who.state.sessions() as session:
        item = queue.leased(session, who.organisation_id, who.me.user.id, notice_id, m.utcnow())
        waiting = queue.waiting(session, who.organisation_id)
    return render(
        request,
        "item.html",
        who.language,
        me=who,
        item=item,
        s=item.sighting,
        shown=bool(shown),
        waiting=waiting,
        done=done if done in [d.value for d in queue.Decision] else "",
    )


@router.post("/queue/{notice_id}/decide")
async def decide(request: Request, notice_id: str, who: auth.PersonDep) -> Response:
    """Confirm, reject as a false match, or reject as not intimate; then take the next item."""
    fields = await auth.form(request, who)
    who.require("review")
    try:
        decision = queue.Decision(fields.get("decision", ""))
    except ValueError as exc:
        raise Conflict("choose confirm, false match or not intimate imagery") from exc
    with who.state.sessions.begin() as session:
        item = queue.leased(session, who.organisation_id, who.me.user.id, notice_id, m.utcnow())
        try:
            queue.decide(session, item, decision, actor=who.actor, now=m.utcnow())
        except InvalidTransition as exc:
            raise Conflict(str(exc)) from exc
        audit.record(
            session,
            who.actor,
            f"review.{decision.value}",
            organisation_id=who.organisation_id,
            target=notice_id,
            reference=item.notice.reference,
        )
    return _next(request, who, decision.value)


@router.post("/queue/{notice_id}/unblur")
async def unblur(request: Request, notice_id: str, who: auth.PersonDep) -> Response:
    """Record that the reviewer unblurred the image; the script then shows it, or the page does."""
    await auth.form(request, who)
    who.require("review")
    with who.state.sessions.begin() as session:
        item = queue.leased(session, who.organisation_id, who.me.user.id, notice_id, m.utcnow())
        audit.record(
            session,
            who.actor,
            "review.unblur",
            organisation_id=who.organisation_id,
            target=notice_id,
            reference=item.notice.reference,
        )
    if request.headers.get("x-csrf-token"):
        return Response(status_code=204, headers=HEADERS)
    return RedirectResponse(f"/console/queue/{notice_id}?shown=1", status_code=303, headers=HEADERS)


@router.get("/notices/{notice_id}/image")
async def image(request: Request, notice_id: str, who: auth.PersonDep) -> Response:
    """Stream the found image through the guarded client; held in memory, never written."""
    with who.state.sessions() as session:
        notice = review.owned(session, who.organisation_id, notice_id)
        url = session.get_one(Sighting, notice.sighting_id).url
    who.require("review")
    allow = who.state.settings.allow_loopback
    try:
        status, body = await run_in_threadpool(_fetch_image, url, allow)
    except (BlockedAddress, TooLarge, TooSlow, httpx.HTTPError):
        return Response(status_code=502, headers=HEADERS)
    kind = image_type(body[:64]) if status == 200 else None
    if kind not in _SHOWN:
        return Response(status_code=502, headers=HEADERS)
    headers = dict(HEADERS) | {"Content-Security-Policy": "default-src 'none'"}
    return Response(body, media_type=kind, headers=headers)


def _fetch_image(url: str, allow_loopback: bool) -> tuple[int, bytes]:
    """GET ``url`` through the guarded client: at most 20 MB and 15 s, in memory only."""
    with (
        sync_client(
            user_agent=user_agent("console"), allow_loopback=allow_loopback, follow_redirects=True
        ) as client,
        client.stream("GET", url) as answer,
    ):
        body = read_limited(answer, IMAGE_BYTES, time.monotonic() + 15.0)
        return answer.status_code, body

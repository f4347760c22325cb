"""Notice pages: lists by status, one notice with its deliveries and checks, decisions.

Bulk approval takes only near-exact matches (the same radius as the NGO's
auto-approval policy), re-checked on the server for every notice posted.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from empreinte.console import auth
from empreinte.console.pages import HEADERS, render
from empreinte.hashing.signals import SignalType
from empreinte.notices import export, review, safety
from empreinte.notices.render import render as render_notice
from empreinte.store import audit
from empreinte.store import models as m
from empreinte.store.models.notices import NoticeStatus, Sighting
from empreinte.store.registry import Conflict

router = APIRouter()
PAGE = 50
DECIDABLE = (NoticeStatus.DRAFT.value, NoticeStatus.HELD.value)


def near_exact(sighting: Sighting) -> bool:
    """Say whether the match is near-exact: the only kind approved in bulk."""
    try:
        spec = SignalType(sighting.signal).spec
    except ValueError:
        return False
    return (
        spec.auto_approve and sighting.distance is not None and sighting.distance <= spec.near_exact
    )


@router.get("/notices")
def notice_list(
    request: Request,
    who: auth.PersonDep,
    status: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    chosen = NoticeStatus(status) if status in [s.value for s in NoticeStatus] else None
    with who.state.sessions() as session:
        rows, total = review.list_notices(
            session, who.organisation_id, chosen, limit=PAGE, offset=(page - 1) * PAGE
        )
    return render(
        request,
        "notices.html",
        who.language,
        me=who,
        rows=[(n, s, near_exact(s)) for n, s in rows],
        total=total,
        status=chosen.value if chosen else "",
        statuses=[s.value for s in NoticeStatus],
        page=page,
        pages=max(1, -(-total // PAGE)),
    )


@router.get("/notices/{notice_id}")
def notice_page(
    request: Request,
    notice_id: str,
    who: auth.PersonDep,
    lang: Literal["en", "fr"] | None = None,
) -> Response:
    language = lang or who.language
    with who.state.sessions() as session:
        notice = review.owned(session, who.organisation_id, notice_id)
        sighting = session.get_one(Sighting, notice.sighting_id)
        history = export.evidence(session, notice, m.utcnow())
        trust = safety.reliability(session, notice.fingerprint_id)
    text = render_notice(notice.content, language, "txt", round=notice.round)
    return render(
        request,
        "notice.html",
        who.language,
        me=who,
        n=notice,
        s=sighting,
        history=history,
        trust=trust,
        text=text,
        notice_lang=language,
        decidable=notice.status in DECIDABLE,
    )


@router.get("/notices/{notice_id}/evidence")
def evidence(notice_id: str, who: auth.PersonDep, lang: Literal["en", "fr"] = "fr") -> HTMLResponse:
    """The printable, dated evidence file of the notice."""
    with who.state.sessions() as session:
        notice = review.owned(session, who.organisation_id, notice_id)
        page = export.evidence_html(session, notice, lang, m.utcnow())
    headers = dict(HEADERS) | {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "Content-Disposition": f'inline; filename="{notice.reference}.html"',
    }
    return HTMLResponse(page, headers=headers)


@router.post("/notices/{notice_id}/decide")
async def decide(request: Request, notice_id: str, who: auth.PersonDep) -> Response:
    """Approve or reject one draft or held notice."""
    fields = await auth.form(request, who)
    with who.state.sessions() as session:
        review.owned(session, who.organisation_id, notice_id)
    who.require("review")
    choice = fields.get("decision")
    reason = fields.get("reason", "").strip()[:500]
    if choice not in ("approve", "reject"):
        raise Conflict("choose approve or reject")
    if choice == "reject" and not reason:
        raise Conflict("say why the notice is rejected")
    with who.state.sessions.begin() as session:
        notice = review.owned(session, who.organisation_id, notice_id)
        if choice == "approve":
            review.approve(session, notice, actor=who.actor, now=m.utcnow())
        else:
            review.reject(session, notice, actor=who.actor, now=m.utcnow(), reason=reason)
        audit.record(
            session,
            who.actor,
            f"notice.{choice}",
            organisation_id=who.organisation_id,
            target=notice.id,
            reference=notice.reference,
        )
    return RedirectResponse(f"/console/notices/{notice_id}", status_code=303, headers=HEADERS)


@router.post("/notices/bulk-approve")
async def bulk_approve(request: Request, who: auth.PersonDep) -> Response:
    """Approve the ticked draft notices that are near-exact matches; skip any other."""
    await auth.form(request, who)
    who.require("review")
    ids = [
        v for k, v in (await request.form()).multi_items() if k == "notice" and isinstance(v, str)
    ]
    approved = skipped = 0
    with who.state.sessions.begin() as session:
        for notice_id in ids[:500]:
            notice = review.owned(session, who.organisation_id, notice_id)
            sighting = session.get_one(Sighting, notice.sighting_id)
            if notice.status != NoticeStatus.DRAFT.value or not near_exact(sighting):
                skipped += 1
                continue
            review.approve(session, notice, actor=who.actor, now=m.utcnow())
            audit.record(
                session,
                who.actor,
                "notice.approve",
                organisation_id=who.organisation_id,
                target=notice.id,
                reference=notice.reference,
                bulk=True,
            )
            approved += 1
    return render(request, "bulk.html", who.language, me=who, approved=approved, skipped=skipped)

"""Case pages: the searchable list, a case's timeline, and its actions.

Open a case (its PIN is shown once), attach the victim's fingerprint file,
withdraw at the victim's request, and schedule a crawl of reported URLs. Each
action calls the same services as the API, with the same ownership checks.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from empreinte.api.multipart import read_field
from empreinte.api.problems import Problem
from empreinte.console import auth
from empreinte.console.pages import render
from empreinte.crawls import service as crawls
from empreinte.errors import FingerprintFileError, InvalidSeed
from empreinte.hashing import fingerprint_file
from empreinte.notices import casebook, timeline
from empreinte.store import audit, cases, registry
from empreinte.store import models as m

router = APIRouter()
PAGE = 50
STATUSES = [s.value for s in m.CaseStatus]
IDENTITY_CHECK_MAX = 500
"""The longest account of how the caller's identity was confirmed (the API's limit)."""


@router.get("/cases")
def case_list(
    request: Request,
    who: auth.PersonDep,
    q: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    chosen = status if status in STATUSES else None
    with who.state.sessions() as session:
        rows, total = casebook.case_page(
            session,
            who.organisation_id,
            search=q,
            status=chosen,
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )
    return render(
        request,
        "cases.html",
        who.language,
        me=who,
        rows=rows,
        total=total,
        q=q,
        status=chosen or "",
        statuses=STATUSES,
        page=page,
        pages=max(1, -(-total // PAGE)),
        now=m.utcnow(),
    )


@router.post("/cases")
async def open_case(request: Request, who: auth.PersonDep) -> Response:
    """Open a case and show its PIN once: the page is not cached and cannot be reloaded."""
    await auth.form(request, who)
    who.require("cases.change")
    with who.state.sessions.begin() as session:
        case, pin = registry.open_case(session, who.organisation_id)
        audit.record(
            session, who.actor, "case.open", organisation_id=who.organisation_id, target=case.id
        )
        number, case_id = case.case_number, case.id
    return render(
        request, "opened.html", who.language, me=who, number=number, pin=pin, case_id=case_id
    )


def _owned(who: auth.Person, case_id: str) -> None:
    """Raise NotFound for a case of another organisation, before any role check."""
    with who.state.sessions() as session:
        cases.owned_case(session, who.organisation_id, case_id)


def _case_page(
    request: Request, who: auth.Person, case_id: str, status: int = 200, **extra: object
) -> Response:
    with who.state.sessions() as session:
        case = cases.owned_case(session, who.organisation_id, case_id)
        view = cases.view(session, case)
        events = timeline.timeline(session, case)
    limit = min(who.state.settings.max_request_bytes - 65_536, fingerprint_file.MAX_FILE_BYTES)
    return render(
        request,
        "case.html",
        who.language,
        code=status,
        me=who,
        case=view,
        events=events,
        max_bytes=limit,
        **extra,
    )


@router.get("/cases/{case_id}")
def case_detail(request: Request, case_id: str, who: auth.PersonDep) -> Response:
    return _case_page(request, who, case_id)


@router.post("/cases/{case_id}/fingerprints")
async def attach(request: Request, case_id: str, who: auth.PersonDep) -> Response:
    """Attach a fingerprint file; each refused record is listed with its reason."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise auth.ForgedRequest
    body = await request.body()
    try:
        token = read_field(body, content_type, "csrf").decode("ascii", "replace")
    except Problem as exc:
        raise auth.ForgedRequest from exc
    auth.check(request, who.me.csrf, token)
    _owned(who, case_id)
    who.require("cases.change")
    try:
        data = read_field(body, content_type, "file")
    except Problem:
        data = b""
    if not data:
        return _case_page(request, who, case_id, 422, attach_error="attach.empty")
    try:
        parsed = fingerprint_file.loads(data)
    except FingerprintFileError as exc:
        return _case_page(
            request, who, case_id, 422, attach_error="attach.invalid", problems=exc.problems[:20]
        )
    result = await run_in_threadpool(_attach, who, case_id, parsed)
    await run_in_threadpool(who.state.follower.catch_up)
    refused = [(p.index, p.reason) for p in parsed.problems]
    refused += [(r.index, r.reason) for r in result.refused]
    return _case_page(request, who, case_id, attached=result, refused=sorted(refused)[:200])


def _attach(
    who: auth.Person, case_id: str, parsed: fingerprint_file.ParsedFile
) -> registry.AttachResult:
    with who.state.sessions.begin() as session:
        return cases.attach_file(session, who.organisation_id, case_id, parsed, actor=who.actor)


@router.post("/cases/{case_id}/withdraw")
async def withdraw(request: Request, case_id: str, who: auth.PersonDep) -> Response:
    """Withdraw the case once the case worker has confirmed the victim's identity."""
    fields = await auth.form(request, who)
    _owned(who, case_id)
    who.require("cases.change")
    if fields.get("confirmed") != "yes":
        return _case_page(request, who, case_id, 422, withdraw_error="withdraw.confirm")
    how = " ".join(fields.get("identity_check", "").split())
    if not how or len(how) > IDENTITY_CHECK_MAX:
        return _case_page(request, who, case_id, 422, withdraw_error="withdraw.how")

    def work() -> None:
        with who.state.sessions.begin() as session:
            cases.withdraw_owned(
                session,
                who.organisation_id,
                case_id,
                actor=who.actor,
                on_behalf_of_victim=True,
                identity_check=how,
            )

    await run_in_threadpool(work)
    await run_in_threadpool(who.state.follower.catch_up)
    return _case_page(request, who, case_id, withdrawn=True)


@router.post("/cases/{case_id}/crawl")
async def crawl(request: Request, case_id: str, who: auth.PersonDep) -> Response:
    """Schedule a crawl of the URLs a victim or witness reported, one a line."""
    fields = await auth.form(request, who)
    _owned(who, case_id)
    who.require("cases.change")
    seeds = [line.strip() for line in fields.get("urls", "").splitlines() if line.strip()]
    if not seeds or len(seeds) > 100:
        return _case_page(request, who, case_id, 422, crawl_error="crawl.count")
    with who.state.sessions.begin() as session:
        cases.owned_case(session, who.organisation_id, case_id)
        try:
            with session.begin_nested():
                made = crawls.create_crawl(session, who.organisation_id, seeds, depth=1)
        except InvalidSeed as exc:
            error, detail = "crawl.invalid", str(exc)
        else:
            error, detail = "", ""
            audit.record(
                session,
                who.actor,
                "crawl.create",
                organisation_id=who.organisation_id,
                target=str(made.id),
                seeds=len(seeds),
                case=case_id,
            )
            crawl_id = made.id
    if error:
        return _case_page(request, who, case_id, 422, crawl_error=error, crawl_detail=detail)
    return _case_page(request, who, case_id, crawled=crawl_id)

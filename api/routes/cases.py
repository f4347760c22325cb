"""NGO routes: open cases, attach fingerprint files, follow matches, withdraw."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from empreinte.api.deps import NgoDep, SessionDep, StateDep
from empreinte.api.multipart import read_field
from empreinte.api.problems import Problem
from empreinte.api.schemas import (
    AttachPublic,
    CaseCreated,
    CasePage,
    CasePublic,
    MatchEventPublic,
    ReassignedRecord,
    RefusedRecord,
    WithdrawCreate,
)
from empreinte.hashing import fingerprint_file
from empreinte.store import audit, cases, registry
from empreinte.store.keys import Principal

router = APIRouter(prefix="/v1/cases", tags=["cases (NGO)"])


def _public(view: cases.CaseView) -> CasePublic:
    return CasePublic(**dataclasses.asdict(view))


@router.post("", status_code=201, response_model=CaseCreated)
def open_case(principal: NgoDep, session: SessionDep) -> CaseCreated:
    """Open a case for a victim. The PIN is shown once: give it to the victim."""
    if principal.organisation_id is None:
        raise Problem(403, "Forbidden", "this key belongs to no organisation")
    with session.begin():
        case, pin = registry.open_case(session, principal.organisation_id)
        audit.record(
            session,
            principal.actor,
            "case.open",
            organisation_id=principal.organisation_id,
            target=case.id,
        )
        view = cases.view(session, case)
    return CaseCreated(**_public(view).model_dump(), pin=pin)


@router.get("", response_model=CasePage)
def list_cases(
    principal: NgoDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CasePage:
    """List this organisation's cases, newest first."""
    rows, total = cases.list_cases(session, principal.organisation_id, limit=limit, offset=offset)
    items = [_public(cases.view(session, row)) for row in rows]
    return CasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{case_id}", response_model=CasePublic)
def get_case(case_id: str, principal: NgoDep, session: SessionDep) -> CasePublic:
    """Read one of this organisation's cases."""
    case = cases.owned_case(session, principal.organisation_id, case_id)
    return _public(cases.view(session, case))


_FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/FingerprintFile"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post("/{case_id}/fingerprints", response_model=AttachPublic, openapi_extra=_FILE_BODY)
async def attach(
    case_id: str, request: Request, principal: NgoDep, state: StateDep
) -> AttachPublic:
    """Attach a fingerprint file made by ``empreinte hash``; each refused record says why.

    Send the file as the JSON body, or as the multipart field ``file``.
    """
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    parsed = await run_in_threadpool(_parse_file, body, content_type)
    del body
    result = await run_in_threadpool(_attach, state, principal, case_id, parsed)
    await run_in_threadpool(state.follower.catch_up)
    refused = [
        RefusedRecord(index=p.index, record_id=p.record_id, reason=p.reason)
        for p in parsed.problems
    ]
    refused += [
        RefusedRecord(index=r.index, record_id=r.record_id, reason=r.reason) for r in result.refused
    ]
    refused.sort(key=lambda r: r.index)
    reassigned = [
        ReassignedRecord(index=r.index, record_id=r.record_id, fingerprint_id=r.fingerprint_id)
        for r in result.reassigned
    ]
    return AttachPublic(
        accepted=result.accepted,
        already_present=result.already_present,
        refused=refused,
        reassigned=reassigned,
    )


def _attach(
    state: Any, principal: Principal, case_id: str, parsed: fingerprint_file.ParsedFile
) -> registry.AttachResult:
    with state.sessions.begin() as session:
        return cases.attach_file(
            session, principal.organisation_id, case_id, parsed, actor=principal.actor
        )


def _parse_file(body: bytes, content_type: str) -> fingerprint_file.ParsedFile:
    """Parse a fingerprint file sent as JSON or as the multipart field ``file`` (off the loop)."""
    if content_type.startswith("multipart/form-data"):
        return fingerprint_file.loads(read_field(body, content_type, "file"))
    if content_type.split(";")[0].strip() not in ("application/json", ""):
        raise Problem(415, "Unsupported media type", "send application/json or multipart/form-data")
    return fingerprint_file.loads(body)


@router.post("/{case_id}/accept", response_model=CasePublic)
async def accept(case_id: str, principal: NgoDep, state: StateDep) -> CasePublic:
    """Accept a received case (self-service, after review): its fingerprints start matching."""

    def work() -> cases.CaseView:
        with state.sessions.begin() as session:
            case = cases.owned_case(session, principal.organisation_id, case_id)
            registry.accept_case(session, case)
            audit.record(
                session,
                principal.actor,
                "case.accept",
                organisation_id=principal.organisation_id,
                target=case.id,
            )
            return cases.view(session, case)

    view = await run_in_threadpool(work)
    await run_in_threadpool(state.follower.catch_up)
    return _public(view)


@router.post("/{case_id}/withdraw", response_model=CasePublic)
async def withdraw(
    case_id: str, principal: NgoDep, state: StateDep, body: WithdrawCreate | None = None
) -> CasePublic:
    """Withdraw the case at the victim's request: its fingerprints stop matching at once.

    A case worker withdraws on the victim's behalf (for example when the victim is
    locked out of the PIN page) after confirming who is calling: say how in
    ``identity_check``; it goes to the audit log.
    """
    request = body or WithdrawCreate()

    def work() -> cases.CaseView:
        with state.sessions.begin() as session:
            return cases.withdraw_owned(
                session,
                principal.organisation_id,
                case_id,
                actor=principal.actor,
                on_behalf_of_victim=request.on_behalf_of_victim,
                identity_check=request.identity_check,
            )

    view = await run_in_threadpool(work)
    await run_in_threadpool(state.follower.catch_up)
    return _public(view)


@router.get("/{case_id}/matches", response_model=list[MatchEventPublic])
def matches(
    case_id: str,
    principal: NgoDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[MatchEventPublic]:
    """What platforms and the crawler found for this case, newest first."""
    case = cases.owned_case(session, principal.organisation_id, case_id)
    return [
        MatchEventPublic(
            match_id=e.id,
            source=e.source,
            fingerprint_id=e.fingerprint_id,
            signal=e.signal,
            distance=e.distance,
            inliers=e.inliers,
            confidence=e.confidence,
            feedback=e.feedback,
            created_at=e.created_at,
        )
        for e in cases.case_matches(session, case.id, limit=limit, offset=offset)
    ]

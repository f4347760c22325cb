"""Victim routes: check a case or withdraw consent with only a case number and PIN.

An unknown case number and a wrong PIN get the same answer in the same time
(the PIN check runs against a dummy hash). Failures are throttled per case
number and per client address; past the limit both get 429 until the window
passes, without checking the PIN at all.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from empreinte.api.deps import StateDep
from empreinte.api.problems import Problem
from empreinte.api.schemas import VictimCredentials, VictimStatus
from empreinte.api.state import AppState
from empreinte.store import audit, cases, registry
from empreinte.store import models as m

router = APIRouter(prefix="/v1", tags=["victims"])

_WRONG = "The case number or the PIN is not right."


def _throttle(state: AppState, case_key: str, client: str) -> None:
    wait = max(state.pin_by_case.retry_after(case_key), state.pin_by_client.retry_after(client))
    if wait > 0:
        raise Problem(
            429,
            "Too many attempts",
            "Too many wrong attempts. Please wait, or call your help line.",
            headers={"Retry-After": str(max(1, round(wait)))},
        )


def _verify(state: AppState, body: VictimCredentials, client: str) -> m.Case:
    """Return the case, or record a failure and raise the one answer for all failures."""
    case_key = body.case_number.strip().upper()
    _throttle(state, case_key, client)
    with state.sessions() as session:
        case = cases.victim_case(session, body.case_number, body.pin)
    if case is None:
        state.pin_by_case.fail(case_key)
        state.pin_by_client.fail(client)
        with state.sessions.begin() as session:
            audit.record(session, "victim", "victim.pin_failed", client=client)
        raise Problem(401, "Not recognised", _WRONG)
    return case


def _status(state: AppState, case_id: str) -> VictimStatus:
    with state.sessions() as session:
        view = cases.view(session, session.get_one(m.Case, case_id))
    return VictimStatus(
        case_number=view.case_number,
        status=view.status,
        fingerprints=view.fingerprints,
        matches=view.matches,
        created_at=view.created_at,
        withdrawn_at=view.withdrawn_at,
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/case-status", response_model=VictimStatus)
async def case_status(body: VictimCredentials, request: Request, state: StateDep) -> VictimStatus:
    """See where your case stands: how many images are protected and how many copies were found."""
    client = _client(request)
    case = await run_in_threadpool(_verify, state, body, client)

    def log() -> None:
        with state.sessions.begin() as session:
            audit.record(session, "victim", "victim.status", target=case.id)

    await run_in_threadpool(log)
    return await run_in_threadpool(_status, state, case.id)


@router.post("/case-withdrawal", response_model=VictimStatus)
async def case_withdrawal(
    body: VictimCredentials, request: Request, state: StateDep
) -> VictimStatus:
    """Withdraw your consent: your images stop being matched immediately."""
    client = _client(request)
    case = await run_in_threadpool(_verify, state, body, client)

    def work() -> None:
        with state.sessions.begin() as session:
            row = session.get_one(m.Case, case.id)
            if row.status != m.CaseStatus.WITHDRAWN.value:
                registry.withdraw_case(session, row)
            audit.record(session, "victim", "victim.withdraw", target=case.id)

    await run_in_threadpool(work)
    await run_in_threadpool(state.follower.catch_up)
    return await run_in_threadpool(_status, state, case.id)

"""Victim routes: check a case or withdraw consent with only a case number and PIN.

An unknown case number and a wrong PIN get the same answer in the same time
(the PIN check runs against a dummy hash). Every attempt is first counted in
the database, per case number and per client address, in one atomic step
shared by every process (:mod:`empreinte.store.throttle`); past the limit the
PIN is not checked at all and the answer is 429, telling the victim to wait or
to call their help line, whose case worker can withdraw for them. A right PIN
takes its attempt back, so only failures count. The client address is the
connection's peer, or the last address a configured trusted proxy forwarded.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from empreinte.api.deps import StateDep
from empreinte.api.limits import client_address
from empreinte.api.problems import Problem
from empreinte.api.schemas import VictimCredentials, VictimStatus
from empreinte.api.state import AppState
from empreinte.store import audit, cases, registry, throttle
from empreinte.store import models as m

router = APIRouter(prefix="/v1", tags=["victims"])

_WRONG = "The case number or the PIN is not right."
_LOCKED = (
    "Too many wrong attempts. Please wait {minutes} minutes and try again, or call your "
    "help line: they can check your case, and withdraw it for you."
)


def _keys(body: VictimCredentials, client: str) -> tuple[str, str]:
    return f"pin:case:{body.case_number.strip().upper()}", f"pin:client:{client}"


def _reserve(state: AppState, keys: tuple[str, str]) -> None:
    """Count this attempt against the case and the client; refuse past either limit."""
    settings, now = state.settings, m.utcnow()
    window = dt.timedelta(seconds=settings.pin_window)
    with state.sessions.begin() as session:
        waits = (
            throttle.reserve(session, keys[0], settings.pin_failures_per_case, window, now),
            throttle.reserve(session, keys[1], settings.pin_failures_per_client, window, now),
        )
    wait = max(waits)
    if wait > 0:
        raise Problem(
            429,
            "Too many attempts",
            _LOCKED.format(minutes=max(1, round(wait / 60))),
            headers={"Retry-After": str(max(1, round(wait)))},
        )


def _verify(state: AppState, body: VictimCredentials, client: str) -> m.Case:
    """Return the case, or count a failure and raise the one answer for all failures."""
    keys = _keys(body, client)
    _reserve(state, keys)
    with state.sessions() as session:
        case = cases.victim_case(session, body.case_number, body.pin)
    with state.sessions.begin() as session:
        if case is None:
            audit.record(session, "victim", "victim.pin_failed", client=client)
        else:
            for key in keys:
                throttle.forgive(session, key)
    if case is None:
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


@router.post("/case-status", response_model=VictimStatus)
async def case_status(body: VictimCredentials, request: Request, state: StateDep) -> VictimStatus:
    """See where your case stands: how many images are protected and how many copies were found."""
    client = client_address(request, state.settings.trusted_proxies)
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
    client = client_address(request, state.settings.trusted_proxies)
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

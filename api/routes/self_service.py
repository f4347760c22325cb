"""Self-service routes: the victim's page opens a case with no key, only fingerprints.

``GET /v1/self-service/challenge`` hands out a proof-of-work challenge;
``POST /v1/self-service/cases`` takes the fingerprint file, the victim's
consent and age confirmation and the solved challenge, and answers with a case
number and a PIN, shown once. Both are limited per client in the database; the
rules are in :mod:`empreinte.store.self_service`.
"""

from __future__ import annotations

import datetime as dt
import json

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from empreinte.api.deps import StateDep
from empreinte.api.limits import client_address
from empreinte.api.problems import Problem
from empreinte.api.schemas import (
    ChallengePublic,
    RefusedRecord,
    SelfServiceCreate,
    SelfServiceCreated,
)
from empreinte.api.state import AppState
from empreinte.hashing import fingerprint_file
from empreinte.store import audit, self_service
from empreinte.store import models as m

router = APIRouter(prefix="/v1/self-service", tags=["self-service (victims)"])

_BUSY = (
    "Too many attempts from this connection. Please wait {minutes} minutes and try again, "
    "or call your help line."
)


def _guard(state: AppState, kind: str, most: int, client: str) -> None:
    """Refuse a closed service, then count this attempt for the client (committed at once)."""
    settings = state.settings
    window = dt.timedelta(seconds=settings.self_service_window)
    try:
        with state.sessions.begin() as session:
            self_service.receiving_organisation(session, settings.self_service_org)
            self_service.limit(session, f"self:{kind}:{client}", most, window, m.utcnow())
    except self_service.SelfServiceClosed as exc:
        raise Problem(404, "Self-service is closed", str(exc)) from exc
    except self_service.TooManyRequests as exc:
        minutes = max(1, round(exc.wait / 60))
        headers = {"Retry-After": str(max(1, round(exc.wait)))}
        raise Problem(
            429, "Too many attempts", _BUSY.format(minutes=minutes), headers=headers
        ) from exc


def _challenge(state: AppState, client: str) -> ChallengePublic:
    settings = state.settings
    _guard(state, "challenge", settings.self_service_challenges_per_client, client)
    ttl = dt.timedelta(seconds=settings.self_service_challenge_ttl)
    with state.sessions.begin() as session:
        issued = self_service.issue_challenge(
            session, settings.self_service_work_bits, ttl, m.utcnow()
        )
    return ChallengePublic(
        challenge=issued.challenge, bits=issued.bits, expires_at=issued.expires_at
    )


@router.get("/challenge", response_model=ChallengePublic)
async def challenge(request: Request, state: StateDep) -> ChallengePublic:
    """Get a proof-of-work challenge, single use, to solve before submitting."""
    client = client_address(request, state.settings.trusted_proxies)
    return await run_in_threadpool(_challenge, state, client)


def _spend(state: AppState, body: SelfServiceCreate) -> None:
    with state.sessions.begin() as session:
        refused = self_service.spend_challenge(session, body.challenge, body.nonce, m.utcnow())
    if refused is not None:
        raise Problem(403, "Proof-of-work refused", refused)


def _submit(
    state: AppState, body: SelfServiceCreate, parsed: fingerprint_file.ParsedFile, client: str
) -> SelfServiceCreated:
    settings = state.settings
    try:
        with state.sessions.begin() as session:
            org = self_service.receiving_organisation(session, settings.self_service_org)
            done = self_service.submit(
                session,
                org,
                parsed.records,
                consent=body.consent,
                age_confirmed=body.age_confirmed,
                hold=settings.self_service_hold,
            )
            audit.record(
                session,
                "victim",
                "case.self_service",
                organisation_id=org.id,
                target=done.case.id,
                client=client,
                accepted=done.attached.accepted,
            )
    except self_service.NothingRegistered as exc:
        reasons = [p.reason for p in parsed.problems] + [r.reason for r in exc.refused]
        raise Problem(422, "Nothing to register", str(exc), reasons=reasons) from exc
    refused = [
        RefusedRecord(index=p.index, record_id=p.record_id, reason=p.reason)
        for p in parsed.problems
    ]
    refused += [
        RefusedRecord(index=r.index, record_id=r.record_id, reason=r.reason)
        for r in done.attached.refused
    ]
    return SelfServiceCreated(
        case_number=done.case.case_number,
        pin=done.pin,
        status=done.case.status,
        accepted=done.attached.accepted,
        refused=refused,
    )


def _parse(body: SelfServiceCreate) -> fingerprint_file.ParsedFile:
    return fingerprint_file.loads(json.dumps(body.file))


@router.post("/cases", status_code=201, response_model=SelfServiceCreated)
async def create(body: SelfServiceCreate, request: Request, state: StateDep) -> SelfServiceCreated:
    """Open your own case with the fingerprint file the page made: no image is sent.

    You get a case number and a PIN, shown once. The case is reviewed by the
    receiving help line before it starts matching.
    """
    if not (body.consent and body.age_confirmed):
        raise Problem(422, "Consent and age required", "confirm both consent and age to continue")
    client = client_address(request, state.settings.trusted_proxies)
    await run_in_threadpool(_guard, state, "case", state.settings.self_service_per_client, client)
    await run_in_threadpool(_spend, state, body)
    parsed = await run_in_threadpool(_parse, body)
    created = await run_in_threadpool(_submit, state, body, parsed, client)
    await run_in_threadpool(state.follower.catch_up)
    return created

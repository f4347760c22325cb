"""Read cases as their owners and victims see them; check ownership and PINs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from empreinte.hashing.fingerprint_file import ParsedFile
from empreinte.store import audit
from empreinte.store import models as m
from empreinte.store.registry import (
    AttachResult,
    NotFound,
    Reassigned,
    Refusal,
    attach_fingerprints,
    withdraw_case,
)
from empreinte.store.secrets import DUMMY_PIN_HASH, check_pin


@dataclass(frozen=True, slots=True)
class CaseView:
    case_id: str
    case_number: str
    status: str
    fingerprints: int
    matches: int
    created_at: dt.datetime
    updated_at: dt.datetime
    withdrawn_at: dt.datetime | None


def owned_case(session: Session, organisation_id: int | None, case_id: str) -> m.Case:
    """Return the case if ``organisation_id`` owns it; otherwise it does not exist for them."""
    case = session.get(m.Case, case_id)
    if case is None or case.organisation_id != organisation_id:
        raise NotFound("no such case")
    return case


def view(session: Session, case: m.Case) -> CaseView:
    fingerprints = session.scalar(
        select(func.count())
        .select_from(m.CaseFingerprint)
        .where(m.CaseFingerprint.case_id == case.id)
    )
    matches = session.scalar(
        select(func.count())
        .select_from(m.MatchEvent)
        .join(m.CaseFingerprint, m.CaseFingerprint.fingerprint_id == m.MatchEvent.fingerprint_id)
        .where(m.CaseFingerprint.case_id == case.id)
    )
    return CaseView(
        case_id=case.id,
        case_number=case.case_number,
        status=case.status,
        fingerprints=int(fingerprints or 0),
        matches=int(matches or 0),
        created_at=case.created_at,
        updated_at=case.updated_at,
        withdrawn_at=case.withdrawn_at,
    )


def list_cases(
    session: Session, organisation_id: int | None, *, limit: int, offset: int
) -> tuple[list[m.Case], int]:
    where = m.Case.organisation_id == organisation_id
    total = session.scalar(select(func.count()).select_from(m.Case).where(where)) or 0
    rows = session.scalars(
        select(m.Case)
        .where(where)
        .order_by(m.Case.created_at.desc(), m.Case.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def case_matches(session: Session, case_id: str, *, limit: int, offset: int) -> list[m.MatchEvent]:
    query = (
        select(m.MatchEvent)
        .join(m.CaseFingerprint, m.CaseFingerprint.fingerprint_id == m.MatchEvent.fingerprint_id)
        .where(m.CaseFingerprint.case_id == case_id)
        .order_by(m.MatchEvent.created_at.desc(), m.MatchEvent.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def victim_case(session: Session, case_number: str, pin: str) -> m.Case | None:
    """Return the case if the number and PIN are right, else None, in the same time either way."""
    case = session.scalar(select(m.Case).where(m.Case.case_number == case_number.strip().upper()))
    stored = case.pin_hash if case is not None else DUMMY_PIN_HASH
    right = check_pin(pin, stored)
    if case is None or not right or case.status == m.CaseStatus.DELETED.value:
        return None
    return case


def attach_file(
    session: Session,
    organisation_id: int | None,
    case_id: str,
    parsed: ParsedFile,
    *,
    actor: str,
) -> AttachResult:
    """Register a parsed fingerprint file in one of ``organisation_id``'s cases, and audit it.

    Positions in the result are positions in the file as sent (records the parser
    already refused are counted), so API and console report the same indexes.
    """
    case = owned_case(session, organisation_id, case_id)
    bad = {p.index for p in parsed.problems}
    total = len(parsed.records) + len(parsed.problems)
    positions = [i for i in range(total) if i not in bad]
    result = attach_fingerprints(session, case, parsed.records)
    result.refused = [Refusal(positions[r.index], r.record_id, r.reason) for r in result.refused]
    result.reassigned = [
        Reassigned(positions[r.index], r.record_id, r.fingerprint_id) for r in result.reassigned
    ]
    audit.record(
        session,
        actor,
        "case.fingerprints",
        organisation_id=organisation_id,
        target=case.id,
        accepted=result.accepted,
        refused=len(result.refused) + len(parsed.problems),
    )
    return result


def withdraw_owned(
    session: Session,
    organisation_id: int | None,
    case_id: str,
    *,
    actor: str,
    on_behalf_of_victim: bool = False,
    identity_check: str | None = None,
) -> CaseView:
    """Withdraw one of ``organisation_id``'s cases at the victim's request, and audit how.

    A case worker acting for the victim (locked out of the PIN page, say) records how
    the caller's identity was confirmed.
    """
    case = owned_case(session, organisation_id, case_id)
    withdraw_case(session, case)
    audit.record(
        session,
        actor,
        "case.withdraw",
        organisation_id=organisation_id,
        target=case.id,
        on_behalf_of_victim=on_behalf_of_victim,
        identity_check=identity_check,
    )
    return view(session, case)

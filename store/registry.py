"""Register cases and fingerprints, withdraw them, and write the change log.

These are the registry's services: plain functions over a SQLAlchemy session,
used alike by the API, the CLI and the tests. Each function that can make a
hash value matchable, or stop it, recomputes ``hashes.active`` for the values
it touched and appends one ``changes`` row per flip, inside the caller's
transaction and under the change-log lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from empreinte.errors import EmpreinteError, SignalError
from empreinte.hashing.fingerprint import QUALITY_FLOOR
from empreinte.hashing.fingerprint import Fingerprint as FingerprintRecord
from empreinte.hashing.robust.features import LocalFeatures
from empreinte.hashing.signals import HashValue, SignalType
from empreinte.hashing.video.fingerprint import check_size_cap
from empreinte.hashing.video.frames import FrameSignal
from empreinte.index.live import Change as IndexChange
from empreinte.store import models as m
from empreinte.store.db import lock_change_log
from empreinte.store.models.videos import VideoFrame
from empreinte.store.secrets import hash_pin, new_case_number, new_pin

MAX_CHANGES_PER_READ: Final = 50_000
MIN_FEATURES: Final = 16
"""Local features of images with fewer keypoints than this are not registered: too weak."""


class NotFound(EmpreinteError):
    """The thing asked for does not exist, or is not the caller's to see."""


class Conflict(EmpreinteError):
    """The request contradicts the current state (for example, a withdrawn case)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one record of a fingerprint file was not registered."""

    index: int
    record_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Reassigned:
    """A record whose id the server replaced: ids belong to the case that first sent them."""

    index: int
    record_id: str
    fingerprint_id: str


@dataclass(slots=True)
class AttachResult:
    accepted: int = 0
    already_present: int = 0
    refused: list[Refusal] = field(default_factory=list)
    reassigned: list[Reassigned] = field(default_factory=list)


def create_organisation(
    session: Session, name: str, kind: str, contact_email: str | None = None
) -> m.Organisation:
    """Create an organisation (``ngo``, ``platform`` or ``operator``)."""
    org = m.Organisation(name=name, kind=kind, contact_email=contact_email)
    session.add(org)
    session.flush()
    return org


def get_or_create_organisation(session: Session, name: str, kind: str) -> m.Organisation:
    org = session.scalar(select(m.Organisation).where(m.Organisation.name == name))
    if org is not None:
        if org.kind != kind:
            raise Conflict(f"organisation {name!r} exists and is a {org.kind}, not a {kind}")
        return org
    return create_organisation(session, name, kind)


def open_case(
    session: Session, organisation_id: int, source: m.CaseSource = m.CaseSource.NGO
) -> tuple[m.Case, str]:
    """Open a case for a victim; return it and its PIN, which is never stored in clear."""
    pin = new_pin()
    case = m.Case(
        id=str(uuid.uuid4()),
        case_number=_unique_case_number(session),
        pin_hash=hash_pin(pin),
        status=m.CaseStatus.RECEIVED.value,
        organisation_id=organisation_id,
        source=source.value,
    )
    session.add(case)
    session.flush()
    return case, pin


def _unique_case_number(session: Session) -> str:
    while True:
        number = new_case_number()
        if session.scalar(select(m.Case.id).where(m.Case.case_number == number)) is None:
            return number


def validate_record(record: FingerprintRecord, floor: int = QUALITY_FLOOR) -> str | None:
    """Return why ``record`` must not be registered, or None when it may be."""
    if record.is_video:
        return _video_problem(record, floor)
    pdq = record.get(SignalType.PDQ)
    if pdq is None:
        return "a PDQ signal is required"
    if (pdq.quality or 0) < floor:
        return f"PDQ quality {pdq.quality} is below {floor}: too little detail to match"
    for signal in record.signals:
        problem = signal.value.entropy_problem()
        if problem is not None:
            return problem
    return None


def _video_problem(record: FingerprintRecord, floor: int) -> str | None:
    """Say why a video record must not be registered: over its caps, or no frame to match."""
    try:
        check_size_cap(record)
    except SignalError as exc:
        return str(exc)
    if not matchable_frames(record, floor):
        return f"no frame has PDQ quality {floor} or more: too little detail to match"
    for signal in record.signals:
        problem = signal.value.entropy_problem()
        if problem is not None:
            return problem
    return None


def matchable_frames(record: FingerprintRecord, floor: int = QUALITY_FLOOR) -> list[FrameSignal]:
    """Return the frames of a video record that are registered: detailed, not degenerate."""
    return [
        f
        for f in record.frames
        if f.quality >= floor and HashValue(SignalType.PDQ, f.pdq).entropy_problem() is None
    ]


def attach_fingerprints(
    session: Session,
    case: m.Case,
    records: Sequence[FingerprintRecord],
    *,
    floor: int = QUALITY_FLOOR,
    first_index: int = 0,
) -> AttachResult:
    """Register ``records`` in ``case`` and make their hashes matchable.

    Each record is checked on its own; refused ones are reported with a reason.
    A fingerprint id belongs to the one case that first sent it: a record whose
    id is already registered elsewhere gets a new id (reported in ``reassigned``),
    so no one can join another case's fingerprint, or keep it matching after
    that case is withdrawn. A hash value already registered (in this or another
    case) is stored once and linked again.
    """
    if case.status in (m.CaseStatus.WITHDRAWN.value, m.CaseStatus.DELETED.value):
        raise Conflict(f"case is {case.status}: fingerprints can no longer be added")
    lock_change_log(session)
    result = AttachResult()
    touched: set[int] = set()
    for offset, record in enumerate(records):
        problem = validate_record(record, floor)
        if problem is not None:
            result.refused.append(Refusal(first_index + offset, str(record.id), problem))
            continue
        row = session.get(m.Fingerprint, str(record.id))
        if row is not None and session.get(m.CaseFingerprint, (case.id, row.id)) is not None:
            result.already_present += 1
            continue
        if row is not None:
            fresh = str(uuid.uuid4())
            result.reassigned.append(Reassigned(first_index + offset, str(record.id), fresh))
            record = dataclasses.replace(record, id=uuid.UUID(fresh))
        row = _insert_fingerprint(session, record)
        session.add(m.CaseFingerprint(case_id=case.id, fingerprint_id=row.id))
        touched.update(
            session.scalars(
                select(m.FingerprintHash.hash_id).where(m.FingerprintHash.fingerprint_id == row.id)
            )
        )
        result.accepted += 1
    held = case.source == m.CaseSource.SELF_SERVICE.value
    if result.accepted and case.status == m.CaseStatus.RECEIVED.value and not held:
        case.status = m.CaseStatus.ACTIVE.value
    case.updated_at = m.utcnow()
    session.flush()
    refresh_active(session, touched)
    return result


def _insert_fingerprint(session: Session, record: FingerprintRecord) -> m.Fingerprint:
    row = m.Fingerprint(
        id=str(record.id),
        media_type=record.media_type,
        width=record.width,
        height=record.height,
        pipeline=record.pipeline,
        quality=record.quality,
    )
    session.add(row)
    linked: set[int] = set()

    def link(hash_id: int, quality: int | None) -> None:
        if hash_id not in linked:
            linked.add(hash_id)
            session.add(m.FingerprintHash(fingerprint_id=row.id, hash_id=hash_id, quality=quality))

    for signal in record.signals:
        link(_get_or_create_hash(session, signal.type.value, signal.value.raw), signal.quality)
    for features in _feature_sets(record):
        blob = features.to_bytes()
        hash_id = _get_or_create_hash(session, SignalType.ORB, hashlib.sha256(blob).digest())
        if session.get(m.LocalFeatureSet, hash_id) is None:
            session.add(m.LocalFeatureSet(hash_id=hash_id, data=blob))
        link(hash_id, len(features))
    for position, frame in enumerate(matchable_frames(record)):
        for crop, value in enumerate(frame.hashes):
            if HashValue(SignalType.PDQ, value).entropy_problem() is not None:
                continue
            hash_id = _get_or_create_hash(session, SignalType.PDQ, value)
            link(hash_id, frame.quality)
            session.add(
                VideoFrame(
                    fingerprint_id=row.id,
                    position=position,
                    crop=crop,
                    hash_id=hash_id,
                    start=frame.start,
                    end=frame.end,
                    quality=frame.quality,
                )
            )
    session.flush()
    return row


def _feature_sets(record: FingerprintRecord) -> list[LocalFeatures]:
    """Return the local features to register: the image's, or each keyframe's for a video."""
    sets = [k.features for k in record.keyframes] if record.is_video else [record.features]
    return [f for f in sets if f is not None and len(f) >= MIN_FEATURES]


def _get_or_create_hash(session: Session, signal: str, value: bytes) -> int:
    query = select(m.Hash.id).where(m.Hash.signal == signal, m.Hash.value == value)
    hash_id = session.scalar(query)
    if hash_id is None:
        row = m.Hash(signal=signal, value=value, active=False)
        session.add(row)
        session.flush()
        hash_id = row.id
    return hash_id


def set_case_status(session: Session, case: m.Case, status: m.CaseStatus) -> None:
    """Move ``case`` to ``status`` and make its hashes match, or stop, accordingly."""
    lock_change_log(session)
    case.status = status.value
    now = m.utcnow()
    case.updated_at = now
    if status in (m.CaseStatus.WITHDRAWN, m.CaseStatus.DELETED) and case.withdrawn_at is None:
        case.withdrawn_at = now
    session.flush()
    refresh_active(session, case_hash_ids(session, case.id))


def accept_case(session: Session, case: m.Case) -> None:
    """Accept a received case after review: its fingerprints start matching."""
    if case.status != m.CaseStatus.RECEIVED.value:
        raise Conflict(f"case is {case.status}: only a received case can be accepted")
    set_case_status(session, case, m.CaseStatus.ACTIVE)


def withdraw_case(session: Session, case: m.Case) -> None:
    """Withdraw consent: the case's hashes stop matching unless another active case holds them."""
    if case.status == m.CaseStatus.DELETED.value:
        raise Conflict("case is deleted")
    set_case_status(session, case, m.CaseStatus.WITHDRAWN)


def case_hash_ids(session: Session, case_id: str) -> set[int]:
    query = (
        select(m.FingerprintHash.hash_id)
        .join(
            m.CaseFingerprint, m.CaseFingerprint.fingerprint_id == m.FingerprintHash.fingerprint_id
        )
        .where(m.CaseFingerprint.case_id == case_id)
    )
    return set(session.scalars(query))


def live_fingerprint(fingerprint_id: Any) -> ColumnElement[bool]:
    """A fingerprint that may match: held by an active case, and by no withdrawn one."""
    held_by = (
        select(m.CaseFingerprint.case_id)
        .join(m.Case, m.Case.id == m.CaseFingerprint.case_id)
        .where(m.CaseFingerprint.fingerprint_id == fingerprint_id)
    )
    active = held_by.where(m.Case.status == m.CaseStatus.ACTIVE.value).exists()
    gone = held_by.where(
        m.Case.status.in_([m.CaseStatus.WITHDRAWN.value, m.CaseStatus.DELETED.value])
    ).exists()
    return and_(active, ~gone)


def refresh_active(session: Session, hash_ids: Iterable[int]) -> int:
    """Recompute ``active`` for ``hash_ids``; log one change per flip; return the flips."""
    ids = sorted(set(hash_ids))
    flips = 0
    now = m.utcnow()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        held = select(m.FingerprintHash.hash_id).where(
            m.FingerprintHash.hash_id.in_(chunk),
            live_fingerprint(m.FingerprintHash.fingerprint_id),
        )
        should = set(session.scalars(held))
        rows = session.execute(
            select(m.Hash.id, m.Hash.signal, m.Hash.value, m.Hash.active).where(
                m.Hash.id.in_(chunk)
            )
        ).all()
        for hash_id, signal, value, active in rows:
            wanted = hash_id in should
            if wanted == active:
                continue
            session.execute(
                update(m.Hash)
                .where(m.Hash.id == hash_id)
                .values(active=wanted, inactive_since=None if wanted else now)
            )
            op = m.ChangeOp.ADD if wanted else m.ChangeOp.REMOVE
            session.add(m.Change(hash_id=hash_id, signal=signal, value=value or b"", op=op.value))
            flips += 1
    session.flush()
    return flips


def changes_since(
    session: Session, seq: int, limit: int = MAX_CHANGES_PER_READ
) -> list[IndexChange]:
    """Return up to ``limit`` changes with ``seq`` greater than ``seq``, in order."""
    rows = session.execute(
        select(
            m.Change.seq,
            m.Change.op,
            m.Change.signal,
            m.Change.hash_id,
            m.Change.value,
            m.LocalFeatureSet.data,
        )
        .outerjoin(
            m.LocalFeatureSet,
            and_(
                m.LocalFeatureSet.hash_id == m.Change.hash_id,
                m.Change.signal == SignalType.ORB,
                m.Change.op == m.ChangeOp.ADD.value,
            ),
        )
        .where(m.Change.seq > seq)
        .order_by(m.Change.seq)
        .limit(limit)
    ).all()
    return [
        IndexChange(seq=r[0], op=r[1], signal=r[2], hash_id=r[3], value=r[4], payload=r[5])
        for r in rows
    ]


def last_seq(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(m.Change.seq), 0))) or 0)


def fingerprints_of_hashes(session: Session, hash_ids: Iterable[int]) -> dict[int, list[str]]:
    """Map each hash id to the live fingerprints that carry it (see :func:`live_fingerprint`)."""
    ids = list(set(hash_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(m.FingerprintHash.hash_id, m.FingerprintHash.fingerprint_id)
        .where(
            m.FingerprintHash.hash_id.in_(ids),
            live_fingerprint(m.FingerprintHash.fingerprint_id),
        )
        .order_by(m.FingerprintHash.hash_id, m.FingerprintHash.fingerprint_id)
    ).all()
    found: dict[int, list[str]] = {}
    for hash_id, fingerprint_id in rows:
        found.setdefault(hash_id, []).append(fingerprint_id)
    return found


def video_frames(session: Session, fingerprint_ids: Iterable[str]) -> dict[str, list[FrameSignal]]:
    """Return the registered frames (with their crop hashes) of each video, in time order.

    Erased hash values are left out, so a frame whose value is gone is gone.
    """
    ids = sorted(set(fingerprint_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(
            VideoFrame.fingerprint_id,
            VideoFrame.position,
            VideoFrame.crop,
            VideoFrame.start,
            VideoFrame.end,
            VideoFrame.quality,
            m.Hash.value,
        )
        .join(m.Hash, m.Hash.id == VideoFrame.hash_id)
        .where(VideoFrame.fingerprint_id.in_(ids), m.Hash.value.is_not(None))
        .order_by(VideoFrame.fingerprint_id, VideoFrame.position, VideoFrame.crop)
    ).all()
    grouped: dict[tuple[str, int], list[Any]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(row)
    found: dict[str, list[FrameSignal]] = {}
    for (fingerprint_id, _), frame in grouped.items():
        if frame[0][2] != 0:
            continue
        first = frame[0]
        hashes = [bytes(r[6]) for r in frame]
        signal = FrameSignal(hashes[0], first[5], first[3], first[4], tuple(hashes[1:]))
        found.setdefault(fingerprint_id, []).append(signal)
    return found


def frame_ranges(
    session: Session, hash_ids: Iterable[int]
) -> dict[tuple[int, str], tuple[float, float]]:
    """Map each (hash id, video fingerprint id) to the time range of a frame carrying it."""
    ids = sorted(set(hash_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(VideoFrame.hash_id, VideoFrame.fingerprint_id, VideoFrame.start, VideoFrame.end)
        .where(VideoFrame.hash_id.in_(ids))
        .order_by(VideoFrame.hash_id, VideoFrame.fingerprint_id, VideoFrame.position)
    ).all()
    found: dict[tuple[int, str], tuple[float, float]] = {}
    for hash_id, fingerprint_id, start, end in rows:
        found.setdefault((hash_id, fingerprint_id), (start, end))
    return found


def utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as an aware UTC datetime (SQLite drops the zone)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

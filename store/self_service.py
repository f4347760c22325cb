"""Open cases for victims themselves, from the self-service page, without an API key.

A self-service case goes to the one organisation the deployment names, enters
its intake queue as ``received``, and matches nothing until a case worker
accepts it (:func:`empreinte.store.registry.accept_case`): anyone can reach
the page, so anyone could try to register someone else's images (poisoning).
A deployment can switch that rule off (``hold=False``).

Two costs stand against scripted mass submission: a per-client limit counted
in the database (:mod:`empreinte.store.throttle`), and a proof-of-work: the
server hands out a random challenge, single use and short-lived, and accepts
a submission only with a nonce such that SHA-256(challenge + nonce) starts
with ``bits`` zero bits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from empreinte.errors import EmpreinteError
from empreinte.hashing.fingerprint import Fingerprint as FingerprintRecord
from empreinte.store import models as m
from empreinte.store import registry, throttle

MAX_NONCE_CHARS: Final = 64


class SelfServiceClosed(EmpreinteError):
    """This deployment names no organisation to receive self-service cases."""


class ConsentMissing(EmpreinteError):
    """The victim did not confirm consent or age."""


class TooManyRequests(EmpreinteError):
    """This client made too many attempts in the window."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"too many attempts; wait {round(wait)} seconds")
        self.wait = wait


class NothingRegistered(EmpreinteError):
    """No record of the file could be registered: no case is opened."""

    def __init__(self, refused: Sequence[registry.Refusal]) -> None:
        super().__init__("no fingerprint of the file could be registered")
        self.refused = list(refused)


@dataclass(frozen=True, slots=True)
class Challenge:
    challenge: str
    bits: int
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Submitted:
    case: m.Case
    pin: str
    attached: registry.AttachResult


def receiving_organisation(session: Session, name: str | None) -> m.Organisation:
    """Return the NGO named to receive self-service cases, or raise :class:`SelfServiceClosed`."""
    if not name:
        raise SelfServiceClosed("this service takes no self-service cases")
    org = session.scalar(select(m.Organisation).where(m.Organisation.name == name))
    if org is None or org.kind != "ngo":
        raise SelfServiceClosed(f"the receiving organisation {name!r} is not an NGO here")
    return org


def limit(session: Session, key: str, most: int, window: dt.timedelta, now: dt.datetime) -> None:
    """Count one attempt on ``key``; raise :class:`TooManyRequests` past ``most`` per window."""
    wait = throttle.reserve(session, key, most, window, now)
    if wait > 0:
        raise TooManyRequests(wait)


def issue_challenge(session: Session, bits: int, ttl: dt.timedelta, now: dt.datetime) -> Challenge:
    """Store and return a fresh challenge; sweep the expired ones."""
    session.execute(delete(m.SelfServiceChallenge).where(m.SelfServiceChallenge.expires_at <= now))
    row = m.SelfServiceChallenge(challenge=secrets.token_hex(16), bits=bits, expires_at=now + ttl)
    session.add(row)
    session.flush()
    return Challenge(row.challenge, bits, row.expires_at)


def leading_zero_bits(digest: bytes) -> int:
    """Count the zero bits at the start of ``digest``."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def spend_challenge(session: Session, challenge: str, nonce: str, now: dt.datetime) -> str | None:
    """Spend ``challenge`` and check the nonce's work; return why it is refused, or None.

    The challenge is spent whatever the outcome: the caller commits, then refuses.
    """
    if len(nonce) > MAX_NONCE_CHARS or len(challenge) > 64:
        return "the proof-of-work is malformed"
    row = session.get(m.SelfServiceChallenge, challenge)
    gone = session.execute(
        delete(m.SelfServiceChallenge).where(m.SelfServiceChallenge.challenge == challenge)
    )
    if row is None or getattr(gone, "rowcount", 0) != 1:
        return "the challenge is unknown or already used; ask for a new one"
    if registry.utc(row.expires_at) <= now:
        return "the challenge has expired; ask for a new one"
    digest = hashlib.sha256((challenge + nonce).encode()).digest()
    if leading_zero_bits(digest) < row.bits:
        return "the proof-of-work is not right"
    return None


def submit(
    session: Session,
    organisation: m.Organisation,
    records: Sequence[FingerprintRecord],
    *,
    consent: bool,
    age_confirmed: bool,
    hold: bool = True,
) -> Submitted:
    """Open a self-service case in ``organisation`` and attach ``records``.

    With ``hold`` (the default) the case stays ``received`` until accepted;
    without it, a case with accepted fingerprints becomes ``active`` at once.
    If no record can be registered, :class:`NothingRegistered` is raised and
    the caller rolls back: no empty case is left behind.
    """
    if not (consent and age_confirmed):
        raise ConsentMissing("consent and age must both be confirmed")
    case, pin = registry.open_case(session, organisation.id, m.CaseSource.SELF_SERVICE)
    attached = registry.attach_fingerprints(session, case, records)
    if not attached.accepted and not attached.already_present:
        raise NothingRegistered(attached.refused)
    if not hold and attached.accepted:
        registry.set_case_status(session, case, m.CaseStatus.ACTIVE)
    return Submitted(case, pin, attached)

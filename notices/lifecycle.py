"""Move a notice through its lifecycle, and record every move with who and when.

    draft ─► approved ─► sent ─► acknowledged ─► removed ─► reappeared ─► sent …
      │  ▲                  │          │              ▲
      ▼  │                  └──────────┴─► refused ───┘
     held                       (any open status) ─► cancelled

``held`` is for quarantined fingerprints; ``cancelled`` for rejected notices and
withdrawn cases. A move that the table below does not allow raises
:class:`InvalidTransition`, so a route or a worker can never skip a step.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from empreinte.notices.errors import InvalidTransition
from empreinte.store.models.notices import (
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Transition,
)

S = NoticeStatus

ALLOWED: Final[dict[NoticeStatus, frozenset[NoticeStatus]]] = {
    S.DRAFT: frozenset({S.APPROVED, S.HELD, S.CANCELLED}),
    S.HELD: frozenset({S.APPROVED, S.DRAFT, S.CANCELLED}),
    S.APPROVED: frozenset({S.SENT, S.HELD, S.CANCELLED}),
    S.SENT: frozenset({S.ACKNOWLEDGED, S.REMOVED, S.REFUSED, S.CANCELLED}),
    S.ACKNOWLEDGED: frozenset({S.REMOVED, S.REFUSED, S.CANCELLED}),
    S.REFUSED: frozenset({S.ACKNOWLEDGED, S.REMOVED, S.CANCELLED}),
    S.REMOVED: frozenset({S.REAPPEARED, S.CANCELLED}),
    S.REAPPEARED: frozenset({S.SENT, S.REMOVED, S.HELD, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}

OPEN: Final = frozenset(s for s, targets in ALLOWED.items() if S.CANCELLED in targets)
"""Statuses a withdrawal cancels: every one but ``cancelled`` itself."""

DELIVERABLE: Final = frozenset({S.APPROVED, S.SENT, S.ACKNOWLEDGED, S.REFUSED, S.REAPPEARED})
"""Statuses in which the outbox may still send the notice (a site's refusal does not stop
the message to its host)."""


def move(
    session: Session,
    notice: Notice,
    to: NoticeStatus,
    *,
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
) -> None:
    """Move ``notice`` to ``to`` and record the transition; raise if the table forbids it."""
    current = NoticeStatus(notice.status)
    if to not in ALLOWED[current]:
        raise InvalidTransition(f"notice {notice.reference} is {current}: it cannot become {to}")
    notice.status = to.value
    notice.updated_at = now
    if to is S.SENT and notice.sent_at is None:
        notice.sent_at = now
    if to is S.REMOVED:
        notice.removed_at = now
    if to is S.REAPPEARED:
        notice.sent_at = None
        notice.removed_at = None
    if to not in DELIVERABLE:
        cancel_pending(session, notice.id)
    note(session, notice, actor=actor, now=now, reason=reason, before=current)


def created(session: Session, notice: Notice, *, actor: str, now: dt.datetime) -> None:
    """Record the creation of ``notice`` in its first status."""
    session.add(
        Transition(
            notice_id=notice.id, at=now, actor=actor[:64], from_status=None, to_status=notice.status
        )
    )


def note(
    session: Session,
    notice: Notice,
    *,
    actor: str,
    now: dt.datetime,
    reason: str | None,
    before: NoticeStatus | None = None,
) -> None:
    """Record an event on ``notice``; with no ``before`` it is an event without a move."""
    session.add(
        Transition(
            notice_id=notice.id,
            at=now,
            actor=actor[:64],
            from_status=(before or notice.status),
            to_status=notice.status,
            reason=reason[:500] if reason else None,
        )
    )


def cancel_pending(session: Session, notice_id: str) -> None:
    """Stop the outbox from sending what is still pending for ``notice_id``."""
    session.execute(
        update(Delivery)
        .where(Delivery.notice_id == notice_id, Delivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.CANCELLED.value, lease_until=None)
    )

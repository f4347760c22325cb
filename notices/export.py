"""Export a notice as a dated evidence file: its document, history, deliveries and checks.

The NGO keeps this file to support a complaint or an appeal to a regulator. It
carries no more about the victim than the notice itself: nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from empreinte.notices.content import iso
from empreinte.notices.render import Language, render
from empreinte.store.models.notices import Contact, Delivery, Notice, NoticeCheck, Transition
from empreinte.store.registry import utc


def evidence(session: Session, notice: Notice, now: dt.datetime) -> dict[str, Any]:
    """Return the evidence file of ``notice`` as a JSON-ready dict, dated ``now``."""
    return {
        "notice": notice.content,
        "status": notice.status,
        "exported_at": iso(now),
        "time_to_removal_hours": _time_to_removal(notice),
        "transitions": [
            {
                "at": iso(t.at),
                "from_status": t.from_status,
                "to_status": t.to_status,
                "actor": t.actor,
                "reason": t.reason,
            }
            for t in session.scalars(
                select(Transition)
                .where(Transition.notice_id == notice.id)
                .order_by(Transition.at, Transition.id)
            )
        ],
        "deliveries": _deliveries(session, notice.id),
        "checks": [
            {
                "at": iso(c.at),
                "outcome": c.outcome,
                "http_status": c.http_status,
                "detail": c.detail,
            }
            for c in session.scalars(
                select(NoticeCheck)
                .where(NoticeCheck.notice_id == notice.id)
                .order_by(NoticeCheck.at, NoticeCheck.id)
            )
        ],
    }


def _deliveries(session: Session, notice_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Delivery, Contact)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.notice_id == notice_id)
        .order_by(Delivery.round, Delivery.id)
    ).all()
    return [
        {
            "round": d.round,
            "channel": d.channel,
            "to": f"{c.domain} ({c.role})",
            "status": d.status,
            "attempts": d.attempts,
            "sent_at": iso(d.sent_at),
            "last_error": d.last_error,
        }
        for d, c in rows
    ]


def _time_to_removal(notice: Notice) -> float | None:
    if notice.sent_at is None or notice.removed_at is None:
        return None
    return round((utc(notice.removed_at) - utc(notice.sent_at)).total_seconds() / 3600, 2)


def evidence_html(session: Session, notice: Notice, language: Language, now: dt.datetime) -> str:
    """Render the printable evidence file in ``language``."""
    return render(notice.content, language, "html", history=evidence(session, notice, now))

"""Holes 1, 3, 4, 11 and 13: one organisation never takes over, sees or overrides another's work."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from empreinte.detection.service import Match
from empreinte.hashing.signals import SignalType
from empreinte.notices import review, safety
from empreinte.notices.service import record_sighting
from empreinte.store import models as m
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.models.notices import Contact, Delivery, Notice
from tests.api.conftest import Api
from tests.security.helpers import attach, file_of, image, is_problem, match, open_case, record


def test_fingerprint_id_of_another_case_is_reassigned_and_withdrawal_holds(api: Api) -> None:
    """Hole 1: B posts A's fingerprint id with other signals; A's victim withdraws."""
    ngo_a, ngo_b, platform = api.client(api.ngo_a), api.client(api.ngo_b), api.client(api.platform)
    case_a = open_case(ngo_a)
    attach(ngo_a, case_a["case_id"], file_of(record(1)))
    [found] = match(platform, image(1))
    taken = uuid.UUID(str(found["fingerprint_id"]))

    case_b = open_case(ngo_b)
    hijack = attach(ngo_b, case_b["case_id"], file_of(record(2, taken), record(1)))
    assert hijack["accepted"] == 2
    [moved] = hijack["reassigned"]  # type: ignore[misc]
    assert moved["record_id"] == str(taken) and moved["fingerprint_id"] != str(taken)
    seen_by_b = ngo_b.get(f"/v1/cases/{case_b['case_id']}/matches").json()
    assert all(e["fingerprint_id"] != str(taken) for e in seen_by_b)

    victim = api.client()
    credentials = {"case_number": case_a["case_number"], "pin": case_a["pin"]}
    assert victim.post("/v1/case-withdrawal", json=credentials).json()["status"] == "withdrawn"
    after = match(platform, image(1))
    assert after, "B registered the same photo: the shared hash value still matches for B"
    assert all(f["fingerprint_id"] != str(taken) for f in after)
    assert match(platform, image(2)), "B's other photo, under its new id, matches"
    again = attach(ngo_a, open_case(ngo_a)["case_id"], file_of(record(3, taken)))
    assert again["reassigned"], "even the first owner cannot reuse an id in another case"


def test_contacts_are_owned_and_checked(api: Api) -> None:
    """Hole 3: public suffixes, single labels and '*' refused; B's contacts get only B's notices."""
    ngo_a, ngo_b, admin = api.client(api.ngo_a), api.client(api.ngo_b), api.client(api.admin)
    for domain, role in (("com", "host"), ("example", "host"), ("1", "host"), ("co.uk", "host")):
        refused = ngo_b.post(
            "/v1/contacts", json={"domain": domain, "role": role, "email": "x@b.example"}
        )
        assert is_problem(refused, 422), domain
    star = {"domain": "*", "role": "escalation", "email": "x@b.example"}
    assert is_problem(ngo_b.post("/v1/contacts", json=star), 422)
    assert admin.post("/v1/contacts", json=star).status_code == 201
    unknown = {"domain": "b.example", "role": "host", "email": "x@b.example", "platform": "Nope"}
    assert is_problem(ngo_b.post("/v1/contacts", json=unknown), 404)
    hijack = {
        "domain": "photoshare.example",
        "role": "platform",
        "email": "listen@b.example",
        "platform": "PhotoShare",
    }
    assert ngo_b.post("/v1/contacts", json=hijack).status_code == 201
    assert ngo_a.get("/v1/contacts").json() == []
    [mine] = ngo_b.get("/v1/contacts").json()
    assert mine["verified"] is False
    assert len(admin.get("/v1/contacts").json()) == 2

    engine = make_engine(api.settings.url)
    sessions = make_sessionmaker(engine)
    case_a = open_case(ngo_a)
    attach(ngo_a, case_a["case_id"], file_of(record(5)))
    ngo_a.put("/v1/notifier", json={"contact_email": "signalements@a.example"})
    [found] = match(api.client(api.platform), image(5))
    with sessions.begin() as session:
        event = session.get_one(m.MatchEvent, str(found["match_id"]))
        sighting = Match(
            match_id=event.id,
            fingerprint_id=event.fingerprint_id,
            signal=event.signal,
            distance=0,
            confidence=1.0,
            query=0,
        )
        record_sighting(
            session,
            match=sighting,
            url="https://cdn.photoshare.example/leak.jpg",
            page_url=None,
            source="crawler",
        )
        notice = session.scalars(select(Notice)).one()
        review.approve(session, notice, actor="key:a", now=m.utcnow())
        reference = notice.reference
        targets = session.execute(
            select(Contact.email).join(Delivery, Delivery.contact_id == Contact.id)
        ).all()
    engine.dispose()
    assert ("listen@b.example",) not in targets, "B's contact never receives A's notices"
    ack = api.client(api.platform).post(
        f"/v1/notices/{reference}/acknowledge", json={"status": "removed"}
    )
    assert is_problem(ack, 404), "the platform B linked cannot answer A's notice"


def test_negative_list_is_owned(api: Api) -> None:
    """Hole 4: a platform's hash entry and B's URL entry leave A's drafts alone."""
    ngo_a, ngo_b, platform = api.client(api.ngo_a), api.client(api.ngo_b), api.client(api.platform)
    ngo_a.put("/v1/notifier", json={"contact_email": "signalements@a.example"})
    case_a = open_case(ngo_a)
    attach(ngo_a, case_a["case_id"], file_of(record(7)))
    [found] = match(platform, image(7))
    pdq = next(
        c["value"] for c in platform.get("/v1/feed").json()["changes"] if c["signal"] == "pdq"
    )
    url = "https://forum.example/leak.jpg"
    engine = make_engine(api.settings.url)
    with make_sessionmaker(engine).begin() as session:
        event = session.get_one(m.MatchEvent, str(found["match_id"]))
        made = Match(event.id, event.fingerprint_id, event.signal, 0, 1.0, 0)
        record_sighting(session, match=made, url=url, page_url=None, source="crawler")
    engine.dispose()
    by_hash = {"signal": SignalType.PDQ.value, "value": pdq, "reason": "benign"}
    assert platform.post("/v1/negative-list", json=by_hash).status_code == 201
    entry_b = ngo_b.post("/v1/negative-list", json={"url": url, "reason": "mine"}).json()
    [draft] = ngo_a.get("/v1/notices", params={"status": "draft"}).json()["items"]
    assert ngo_a.get("/v1/negative-list").json() == [], "A sees no one else's entries"
    assert ngo_a.post(f"/v1/notices/{draft['notice_id']}/approve").status_code == 200
    assert is_problem(ngo_a.delete(f"/v1/negative-list/{entry_b['entry_id']}"), 404)
    assert ngo_b.delete(f"/v1/negative-list/{entry_b['entry_id']}").status_code == 204
    assert ngo_b.get("/v1/negative-list").json() == []


def test_feedback_counts_once_per_platform_and_only_on_its_own_matches(api: Api) -> None:
    """Hole 13: forged or repeated feedback cannot sink a fingerprint's reliability."""
    ngo_a, platform = api.client(api.ngo_a), api.client(api.platform)
    other = api.client(api.make_key(m.Role.PLATFORM, "OtherTube"))
    case_a = open_case(ngo_a)
    attach(ngo_a, case_a["case_id"], file_of(record(9)))
    ids = [str(match(platform, image(9))[0]["match_id"]) for _ in range(5)]
    for match_id in ids:
        answer = platform.post(f"/v1/matches/{match_id}/feedback", json={"feedback": "not_blocked"})
        assert answer.status_code == 204
    stolen = other.post(f"/v1/matches/{ids[0]}/feedback", json={"feedback": "blocked"})
    assert is_problem(stolen, 404)
    engine = make_engine(api.settings.url)
    with make_sessionmaker(engine)() as session:
        fingerprint = session.get_one(m.MatchEvent, ids[0]).fingerprint_id
        trust = safety.reliability(session, fingerprint)
    engine.dispose()
    assert (trust.blocked, trust.not_blocked) == (0, 1), "one platform, one voice"

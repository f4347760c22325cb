"""A notice carries what the DSA and the TAKE IT DOWN Act ask, in French and English; no victim."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.hashing.signals import SignalType
from empreinte.notices import export, review
from empreinte.notices.render import LANGUAGES, render, subject
from empreinte.notices.service import record_sighting
from empreinte.store.models.notices import Notice
from tests.notices.conftest import NGO_EMAIL, T0, World, make_world
from tests.store.conftest import random_record

URL = "https://cdn.photoshare.example/i/abc.jpg"
PAGE = "https://photoshare.example/p/123"


def renderings(session: Session, notice: Notice) -> dict[str, str]:
    """Every form a notice takes: JSON, text and HTML per language, the evidence file."""
    forms = {"json": json.dumps(notice.content, ensure_ascii=False)}
    for lang in LANGUAGES:
        for fmt in ("txt", "html"):
            forms[f"{lang}.{fmt}"] = render(notice.content, lang, fmt)
            forms[f"{lang}.{fmt}.reminder"] = render(notice.content, lang, fmt, round=2)
        forms[f"{lang}.subject"] = subject(notice.content, lang)
        forms[f"{lang}.evidence"] = export.evidence_html(session, notice, lang, T0)
    forms["evidence.json"] = json.dumps(export.evidence(session, notice, T0))
    return forms


def assert_anonymous(text: str, world: World) -> None:
    """Check one rendering against the case: no case number, PIN, case id, fingerprint id."""
    secrets = [world.case_number, world.pin, world.case_id]
    secrets += [str(r.id) for r in world.records]
    secrets += [world.case_number.replace("-", ""), world.case_id.replace("-", "")]
    for secret in secrets:
        assert secret.lower() not in text.lower(), f"{secret!r} leaked"


def _approved(sessions: sessionmaker[Session], world: World, **kwargs: object) -> str:
    with sessions.begin() as session:
        match = world.match(session, world.records[0], **kwargs)  # type: ignore[arg-type]
        sighting = record_sighting(
            session,
            match=match,
            url=URL,
            page_url=PAGE,
            source="crawler",
            box=(12, 34, 320, 240),
            now=T0,
        )
        notice = session.scalars(select(Notice).where(Notice.sighting_id == sighting.id)).one()
        review.approve(session, notice, actor="key:reviewer", now=T0 + dt.timedelta(minutes=2))
        return notice.id


def test_the_notice_carries_dsa_and_take_it_down_elements(sessions: sessionmaker[Session]) -> None:
    world = make_world(sessions)
    notice_id = _approved(sessions, world, distance=6)
    with sessions() as session:
        notice = session.get_one(Notice, notice_id)
        doc = notice.content
        forms = renderings(session, notice)
    assert doc["format"] == "empreinte-notice" and doc["version"] == 1
    assert doc["reference"].startswith("TD-2026-")
    assert doc["location"]["url"] == URL and doc["location"]["page_url"] == PAGE
    assert doc["notifier"] == {"name": "E-Enfance", "email": NGO_EMAIL}
    assert doc["evidence"]["signal"] == "pdq" and doc["evidence"]["distance"] == 6
    assert doc["evidence"]["box"] == {"x": 12, "y": 34, "width": 320, "height": 240}
    assert doc["signature"]["name"] == "E-Enfance"
    assert doc["removal_deadline_hours"] == 48
    bases = {(b["jurisdiction"], b["provision"]) for b in doc["legal_basis"]}
    assert bases == {
        ("FR", "art. 226-2-1"),
        ("BE", "art. 417/9"),
        ("EU", "art. 16"),
        ("US", "section 3"),
    }
    for lang, words in {
        "en": ["good faith", "without their consent", "48 hours", "Signed electronically"],
        "fr": ["bonne foi", "sans son consentement", "48 heures", "Signé électroniquement"],
    }.items():
        for fmt in ("txt", "html"):
            text = forms[f"{lang}.{fmt}"]
            for expected in [URL, PAGE, NGO_EMAIL, "226-2-1", "417/9", "371/1", *words]:
                assert expected in text, (lang, fmt, expected)
            assert "6 of 256 bits" in text or "6 sur 256 bits" in text
    assert forms["en.subject"].startswith(f"Takedown notice {doc['reference']}")
    assert forms["fr.txt.reminder"].count("Relance 2") == 1
    for text in forms.values():
        assert_anonymous(text, world)


def test_every_notice_of_a_case_is_anonymous(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(5)
    world = make_world(sessions, [random_record(rng) for _ in range(3)])
    with sessions.begin() as session:
        for i, record in enumerate(world.records):
            signal = SignalType.SHA256 if i == 1 else SignalType.PDQ
            match = world.match(session, record, distance=0 if i == 1 else 4 * i, signal=signal)
            record_sighting(
                session,
                match=match,
                url=f"https://site{i}.example/{i}.jpg",
                page_url=None if i else PAGE,
                source="platform",
                now=T0,
            )
    with sessions.begin() as session:
        for notice in session.scalars(select(Notice)):
            review.approve(session, notice, actor="key:reviewer", now=T0)
    with sessions() as session:
        notices = list(session.scalars(select(Notice)))
        assert len(notices) == 3
        for notice in notices:
            for text in renderings(session, notice).values():
                assert_anonymous(text, world)


def test_html_escapes_what_comes_from_the_web(sessions: sessionmaker[Session]) -> None:
    world = make_world(sessions)
    with sessions.begin() as session:
        match = world.match(session, world.records[0])
        sighting = record_sighting(
            session,
            match=match,
            url='https://evil.example/a.jpg?q="><script>alert(1)</script>',
            page_url=None,
            source="crawler",
            now=T0,
        )
        notice = session.scalars(select(Notice).where(Notice.sighting_id == sighting.id)).one()
        html = render(notice.content, "en", "html")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html

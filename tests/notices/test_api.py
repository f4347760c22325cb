"""The notices API over a real server: NGOs review, platforms answer, everyone sees only theirs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from empreinte.notices.service import record_sighting
from empreinte.notices.worker import WorkerConfig, standard_worker
from empreinte.settings import Settings
from empreinte.store import registry
from empreinte.store.keys import create_key
from empreinte.store.models import Role
from tests.notices.conftest import World, make_world
from tests.notices.servers import Receiver, webhook
from tests.servers import running_api as serving


@dataclass
class Clients:
    ngo_a: httpx.Client
    ngo_b: httpx.Client
    platform: httpx.Client
    other_platform: httpx.Client
    admin: httpx.Client


@dataclass
class Stage:
    world: World
    api: Clients
    receiver: Receiver


@pytest.fixture
def stage(db_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[Stage]:
    world = make_world(sessions, email=None)
    with sessions.begin() as session:
        keys = [
            create_key(session, Role.NGO, "E-Enfance")[1],
            create_key(session, Role.NGO, "Child Focus")[1],
            create_key(session, Role.PLATFORM, "PhotoShare")[1],
            create_key(session, Role.PLATFORM, "OtherTube")[1],
            create_key(session, Role.ADMIN)[1],
        ]
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url, allow_loopback=True)
    with serving(settings) as base, webhook() as receiver:
        made = [
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {k}"}, timeout=30)
            for k in keys
        ]
        yield Stage(world, Clients(*made), receiver)
        for client in made:
            client.close()


def _sight(world: World, url: str) -> None:
    with world.sessions.begin() as session:
        match = world.match(session, world.records[0], distance=5)
        record_sighting(session, match=match, url=url, page_url=None, source="platform")


def test_review_delivery_and_answers_through_the_api(stage: Stage) -> None:
    a, b, platform = stage.api.ngo_a, stage.api.ngo_b, stage.api.platform
    settings = {"contact_email": "signalements@e-enfance.example", "auto_approve": False}
    assert a.put("/v1/notifier", json=settings).status_code == 200
    contact = a.post(
        "/v1/contacts",
        json={
            "domain": "photoshare.example",
            "role": "platform",
            "webhook_url": stage.receiver.url,
            "email": "abuse@photoshare.example",
            "platform": "PhotoShare",
        },
    )
    assert contact.status_code == 201 and len(contact.json()["webhook_secret"]) >= 32
    bad = a.post("/v1/contacts", json={"domain": "not a domain", "role": "host", "email": "x@y"})
    assert bad.status_code == 422
    _sight(stage.world, "https://cdn.photoshare.example/1.jpg")
    _sight(stage.world, "https://cdn.photoshare.example/2.jpg")

    drafts = a.get("/v1/notices", params={"status": "draft"}).json()
    assert drafts["total"] == 2
    assert b.get("/v1/notices").json()["total"] == 0
    first, second = (item["notice_id"] for item in drafts["items"])
    assert b.get(f"/v1/notices/{first}").status_code == 404
    assert platform.get("/v1/notices").status_code == 403
    detail = a.get(f"/v1/notices/{first}").json()
    assert detail["reliability"]["score"] == 0.5 and detail["quarantine"] is None
    reference = detail["reference"]
    page = a.get(f"/v1/notices/{first}.html", params={"lang": "fr"})
    assert page.headers["content-type"].startswith("text/html")
    assert "Notification de retrait" in page.text and "Dossier de preuve" in page.text
    assert "Takedown notice" in a.get(f"/v1/notices/{first}", params={"format": "html"}).text
    assert a.get(f"/v1/notices/{first}.json").json()["status"] == "draft"

    worker = standard_worker(
        stage.world.sessions, config=WorkerConfig(interval=0.2), allow_loopback=True
    )
    worker.start()
    try:
        approved_at = time.monotonic()
        assert a.post(f"/v1/notices/{first}/approve").json()["status"] == "approved"
        while not stage.receiver.requests and time.monotonic() - approved_at < 60:
            time.sleep(0.05)
        latency = time.monotonic() - approved_at
    finally:
        worker.stop()
    print(f"\napproval to webhook delivery: {latency:.2f} s")
    assert stage.receiver.requests and latency < 60
    assert a.post(f"/v1/notices/{first}/approve").status_code == 409
    assert (
        a.post(f"/v1/notices/{second}/reject", json={"reason": "x", "extra": 1}).status_code == 422
    )
    rejected = a.post(f"/v1/notices/{second}/reject", json={"reason": "not the same picture"})
    assert rejected.json()["status"] == "cancelled"

    answer = f"/v1/notices/{reference}/acknowledge"
    for malformed in ({"status": "gone"}, {"status": "removed", "extra": 1}, {}, []):
        assert platform.post(answer, json=malformed).status_code == 422
    assert (
        platform.post(
            answer, content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert (
        platform.post(
            "/v1/notices/TD-2026-XXXXX-XXXXX/acknowledge", json={"status": "acknowledged"}
        ).status_code
        == 404
    )
    assert stage.api.other_platform.post(answer, json={"status": "removed"}).status_code == 404
    assert a.post(answer, json={"status": "removed"}).status_code == 403
    assert platform.post(answer, json={"status": "acknowledged"}).json()["status"] == "acknowledged"
    removed = platform.post(answer, json={"status": "removed", "reason": "taken down"})
    assert removed.json() == {"reference": reference, "status": "removed"}
    assert platform.post(answer, json={"status": "removed"}).status_code == 200

    this_year = a.get("/v1/stats").json()
    assert this_year["totals"]["notices"] == 1 and this_year["totals"]["removed"] == 1
    assert stage.api.admin.get("/v1/stats").json()["totals"]["notices"] == 1
    assert b.get("/v1/stats").json()["totals"]["notices"] == 0
    assert platform.get("/v1/stats").status_code == 403
    markdown = a.get("/v1/stats", params={"format": "markdown"})
    assert "| cdn.photoshare.example |" in markdown.text
    assert a.get("/v1/stats", params={"year": 1900}).status_code == 422


def test_negative_list_quarantines_and_contacts(stage: Stage) -> None:
    a, b, platform = stage.api.ngo_a, stage.api.ngo_b, stage.api.platform
    contact = a.post(
        "/v1/contacts",
        json={
            "domain": "photoshare.example",
            "role": "platform",
            "email": "abuse@photoshare.example",
            "platform": "PhotoShare",
        },
    ).json()
    benign = {"url": "https://news.example/a.jpg", "reason": "press photo"}
    assert a.post("/v1/negative-list", json=benign).status_code == 201
    assert platform.post("/v1/negative-list", json=benign).status_code == 403
    own = {"url": "https://cdn.photoshare.example/own.jpg", "reason": "our licensed photo"}
    assert platform.post("/v1/negative-list", json=own).status_code == 403, "not verified yet"
    admin = stage.api.admin
    assert admin.post(f"/v1/contacts/{contact['contact_id']}/verify").json()["verified"]
    mine = platform.post("/v1/negative-list", json=own).json()
    assert mine["verified"] is False, "a platform's entry waits for an admin"
    value = "f0e1d2c3b4a5968778695a4b3c2d1e0f" * 2
    by_hash = {"signal": "pdq", "value": value, "reason": "generic"}
    assert platform.post("/v1/negative-list", json=by_hash).status_code == 201
    assert a.post("/v1/negative-list", json={**by_hash, "value": "zz"}).status_code == 422
    assert a.post("/v1/negative-list", json={**benign, **by_hash}).status_code == 422
    assert admin.post("/v1/negative-list", json=benign).json()["verified"] is True
    assert [e["reason"] for e in a.get("/v1/negative-list").json()] == ["press photo"]
    assert b.get("/v1/negative-list").json() == []
    listed = platform.get("/v1/negative-list").json()
    assert [e["reason"] for e in listed] == ["generic", "our licensed photo"]
    assert len(admin.get("/v1/negative-list").json()) == 4
    assert b.delete(f"/v1/negative-list/{mine['entry_id']}").status_code == 404
    assert platform.delete(f"/v1/negative-list/{mine['entry_id']}").status_code == 204
    assert a.get("/v1/quarantines").json() == []
    fingerprint = str(stage.world.records[0].id)
    assert a.post(f"/v1/quarantines/{fingerprint}/release").status_code == 404
    assert b.post(f"/v1/quarantines/{fingerprint}/release").status_code == 404
    assert b.delete(f"/v1/contacts/{contact['contact_id']}").status_code == 404
    assert a.delete(f"/v1/contacts/{contact['contact_id']}").status_code == 204
    assert a.get("/v1/contacts").json() == []
    assert a.get("/v1/notifier").json()["contact_email"] is None
    with stage.world.sessions() as session:
        assert registry.last_seq(session) > 0

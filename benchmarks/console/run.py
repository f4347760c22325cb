"""Time every console page at scale: 10,000 cases, 100,000 sightings, 50,000 notices.

Fills a fresh SQLite database with bulk inserts (one NGO holds everything, the
worst case for its pages; a second NGO holds a tenth as much), then requests
each page in-process through the real app (Starlette's test client, no
network) and prints the median and worst of ``--repeat`` timings. Where the
API has the same read, it is timed beside it as the baseline.

Run: ``python -m benchmarks.console.run [--cases 10000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session

from benchmarks.common import stamp, table
from empreinte.api.app import create_app
from empreinte.notices import content
from empreinte.runtime import Runtime
from empreinte.settings import Settings
from empreinte.store import migrate, users
from empreinte.store import models as m
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.keys import create_key
from empreinte.store.models.notices import Contact, Delivery, Notice, Sighting, Transition

NOW = dt.datetime.now(dt.UTC)
HOSTS = [f"host{i}.example" for i in range(60)]
SIGNALS = ["pdq", "pdq", "pdq", "orb", "sha256"]
STATUSES = ["draft", "sent", "acknowledged", "removed", "removed", "refused", "cancelled"]
PASSWORD = "benchmark password 1"


def fill(session: Session, org_id: int, cases: int, per_case: int, noticed: float) -> None:
    """Insert ``cases`` cases of one fingerprint each, ``per_case`` sightings per fingerprint."""
    notifier = session.get_one(m.Organisation, org_id)
    contact = session.scalar(
        insert(Contact)
        .values(
            domain=f"org{org_id}.example",
            role="platform",
            webhook_url="https://h.example/x",
            webhook_secret="s" * 32,
            language="en",
            created_at=NOW,
        )
        .returning(Contact.id)
    )
    rows: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("cases", "fps", "links", "events", "sightings", "notices", "moves", "out")
    }
    for c in range(cases):
        case_id, fp = str(uuid.uuid4()), str(uuid.uuid4())
        opened = NOW - dt.timedelta(hours=c % 5000)
        rows["cases"].append(
            {
                "id": case_id,
                "case_number": f"EMP-{org_id}{c:07d}"[:13],
                "pin_hash": "x",
                "status": "active",
                "organisation_id": org_id,
                "created_at": opened,
                "updated_at": opened,
            }
        )
        rows["fps"].append(
            {
                "id": fp,
                "media_type": "image/jpeg",
                "width": 800,
                "height": 600,
                "pipeline": "v2",
                "quality": 90,
                "created_at": opened,
            }
        )
        rows["links"].append({"case_id": case_id, "fingerprint_id": fp, "added_at": opened})
        for s in range(per_case):
            n = c * per_case + s
            seen = NOW - dt.timedelta(hours=(n * 7) % (24 * 7 * 16))
            event, sighting = str(uuid.uuid4()), str(uuid.uuid4())
            signal = SIGNALS[n % len(SIGNALS)]
            rows["events"].append(
                {
                    "id": event,
                    "source": "crawler",
                    "fingerprint_id": fp,
                    "signal": signal,
                    "distance": n % 12,
                    "confidence": 0.9,
                    "created_at": seen,
                }
            )
            host = HOSTS[n % len(HOSTS)]
            rows["sightings"].append(
                {
                    "id": sighting,
                    "fingerprint_id": fp,
                    "match_id": event,
                    "last_match_id": event,
                    "url": f"https://cdn.{host}/i/{n}.jpg",
                    "page_url": f"https://{host}/p/{n}",
                    "host": f"cdn.{host}",
                    "page_host": host,
                    "source": "crawler",
                    "signal": signal,
                    "distance": n % 12,
                    "confidence": 0.9,
                    "box": [0, 0, 800, 600],
                    "first_seen": seen,
                    "last_seen": seen,
                }
            )
            if s < per_case * noticed:
                _notice(rows, notifier, n, sighting, fp, seen, contact)
    for model, key in (
        (m.Case, "cases"),
        (m.Fingerprint, "fps"),
        (m.CaseFingerprint, "links"),
        (m.MatchEvent, "events"),
        (Sighting, "sightings"),
        (Notice, "notices"),
        (Transition, "moves"),
        (Delivery, "out"),
    ):
        for start in range(0, len(rows[key]), 5000):
            session.execute(insert(model), rows[key][start : start + 5000])


def _notice(
    rows: dict[str, list[dict[str, Any]]],
    notifier: m.Organisation,
    n: int,
    sighting: str,
    fp: str,
    seen: dt.datetime,
    contact: int | None,
) -> None:
    status = STATUSES[n % len(STATUSES)]
    notice_id, reference = str(uuid.uuid4()), f"TD-B-{notifier.id}-{n:08d}"
    sent = seen + dt.timedelta(minutes=5) if status != "draft" else None
    removed = sent + dt.timedelta(hours=(n % 200) + 0.5) if sent and status == "removed" else None
    doc = content.build(
        Notice(reference=reference),
        Sighting(
            url=f"https://x.example/{n}.jpg",
            page_url=None,
            host="x.example",
            signal="pdq",
            distance=3,
            inliers=None,
            confidence=0.9,
            box=None,
            first_seen=seen,
            last_seen=seen,
        ),
        notifier,
        seen,
    )
    rows["notices"].append(
        {
            "id": notice_id,
            "reference": reference,
            "sighting_id": sighting,
            "organisation_id": notifier.id,
            "fingerprint_id": fp,
            "status": status,
            "category": "ncii",
            "content": doc,
            "round": 0,
            "created_at": seen,
            "updated_at": seen,
            "sent_at": sent,
            "removed_at": removed,
        }
    )
    rows["moves"].append(
        {
            "notice_id": notice_id,
            "at": seen,
            "actor": "crawler",
            "from_status": None,
            "to_status": "draft",
        }
    )
    if sent:
        rows["moves"].append(
            {
                "notice_id": notice_id,
                "at": sent,
                "actor": "worker",
                "from_status": "approved",
                "to_status": "sent",
            }
        )
        if removed:
            rows["moves"].append(
                {
                    "notice_id": notice_id,
                    "at": removed,
                    "actor": "platform",
                    "from_status": "sent",
                    "to_status": "removed",
                }
            )
        rows["out"].append(
            {
                "notice_id": notice_id,
                "contact_id": contact,
                "channel": "webhook",
                "round": 0,
                "idempotency_key": f"{reference}:0",
                "status": "sent",
                "attempts": 1,
                "next_attempt_at": sent,
                "created_at": seen,
                "sent_at": sent,
            }
        )


def timed(
    client: TestClient, method: str, path: str, repeat: int, *, cold: Any = None, **kw: Any
) -> list[float]:
    """Time ``repeat`` requests after one warm-up; ``cold()`` runs before each (cache reset)."""
    times = []
    for i in range(repeat + 1):
        if cold is not None:
            cold()
        started = time.perf_counter()
        answer = client.request(method, path, follow_redirects=False, **kw)
        took = (time.perf_counter() - started) * 1000
        if answer.status_code not in (200, 303):
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        if i:
            times.append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="empreinte-console-bench-"))
    settings = Settings(data_dir=folder, workers=False)
    migrate.upgrade(settings.url)
    engine = make_engine(settings.url)
    started = time.perf_counter()
    with make_sessionmaker(engine).begin() as session:
        user = users.create_user(
            session,
            "E-Enfance",
            "rev@e.example",
            users.UserRole.ORG_ADMIN,
            password=PASSWORD,
            language="en",
        )
        org = user.organisation_id
        session.get_one(m.Organisation, org).contact_email = "alerte@e.example"
        other = users.create_user(
            session, "Child Focus", "rev@c.example", users.UserRole.REVIEWER, password=PASSWORD
        ).organisation_id
        session.get_one(m.Organisation, other).contact_email = "alerte@c.example"
        _, key = create_key(session, m.Role.NGO, "E-Enfance")
        fill(session, org, args.cases, 10, 0.5)
        fill(session, other, args.cases // 10, 10, 0.5)
    engine.dispose()
    filled = time.perf_counter() - started
    print(
        f"filled in {filled:.0f} s: NGO A holds {args.cases:,} cases, {args.cases * 10:,} "
        f"sightings, {args.cases * 5:,} notices; NGO B a tenth of that\n"
    )
    with TestClient(create_app(Runtime(settings)), base_url="http://127.0.0.1") as client:
        page = client.get("/console/sign-in")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        client.post(
            "/console/sign-in",
            data={"csrf": token.group(1), "email": "rev@e.example", "password": PASSWORD},
            follow_redirects=False,
        )
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console/cases").text)
        assert csrf is not None
        listing = client.get("/console/cases").text
        case_id = re.findall(r'href="/console/cases/([0-9a-f-]{36})"', listing)[0]
        notice_id = re.findall(
            r'href="/console/notices/([0-9a-f-]{36})"', client.get("/console/notices").text
        )[0]
        take = client.post(
            "/console/queue/take", data={"csrf": csrf.group(1)}, follow_redirects=False
        )
        item = take.headers["location"].split("?")[0]
        bearer = {"Authorization": f"Bearer {key}"}
        pages: list[tuple[str, str, str, dict[str, Any], str | None]] = [
            ("cases list", "GET", "/console/cases", {}, "/v1/cases?limit=50"),
            ("cases search", "GET", "/console/cases?q=EMP-1000&status=active", {}, None),
            ("cases page 150", "GET", "/console/cases?page=150", {}, None),
            ("case + timeline", "GET", f"/console/cases/{case_id}", {}, f"/v1/cases/{case_id}"),
            ("review queue", "GET", "/console/queue", {}, None),
            (
                "take next item",
                "POST",
                "/console/queue/take",
                {"data": {"csrf": csrf.group(1)}},
                None,
            ),
            ("queue item", "GET", item, {}, None),
            ("notices list", "GET", "/console/notices", {}, "/v1/notices?limit=50"),
            (
                "notices drafts",
                "GET",
                "/console/notices?status=draft",
                {},
                "/v1/notices?status=draft&limit=50",
            ),
            ("notice", "GET", f"/console/notices/{notice_id}", {}, f"/v1/notices/{notice_id}"),
            (
                "evidence file",
                "GET",
                f"/console/notices/{notice_id}/evidence",
                {},
                f"/v1/notices/{notice_id}.html",
            ),
            ("statistics (cached 60 s)", "GET", "/console/stats", {}, None),
            (
                "DSA report",
                "GET",
                f"/console/stats/report?year={NOW.year}",
                {},
                f"/v1/stats?year={NOW.year}&format=markdown",
            ),
            ("settings", "GET", "/console/settings", {}, None),
        ]
        console = next(r for r in client.app.routes if getattr(r, "path", "") == "/console")
        recount = console.app.state.statistics.clear  # type: ignore[attr-defined]
        pages.insert(
            12, ("statistics, recounted", "GET", "/console/stats", {"cold": recount}, None)
        )
        rows = []
        for name, method, path, kw, api in pages:
            times = timed(client, method, path, args.repeat, **kw)
            median = statistics.median(times)
            row = [name, f"{median:.1f}", f"{max(times):.1f}"]
            if api:
                base = statistics.median(timed(client, "GET", api, args.repeat, headers=bearer))
                row += [f"{base:.1f}", f"{median / base:.2f}x"]
            else:
                row += ["—", "—"]
            row.append("yes" if max(times) <= 100 else "no")
            rows.append(row)
    print(stamp())
    print(
        table(
            ["page", "median ms", "worst ms", "API baseline ms", "console / API", "≤ 100 ms"], rows
        )
    )


if __name__ == "__main__":
    main()

"""The API over real HTTP: isolation between callers, the victim's routes, platform matching."""

from __future__ import annotations

import io
import json
import time

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import select

from empreinte.hashing import fingerprint_file
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.store import models as m
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.models import Role
from tests.api.conftest import Api
from tests.conftest import encode, photo, png_bomb

PROBLEM = "application/problem+json"


def _fingerprint_file(*seeds: int) -> tuple[str, list[bytes]]:
    images = [encode(photo(seed, (640, 480)), "JPEG", quality=92) for seed in seeds]
    records = [fingerprint_bytes(data) for data in images]
    return fingerprint_file.dumps(records), images


def _open_case(client: httpx.Client) -> dict[str, object]:
    response = client.post("/v1/cases")
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_isolation_between_organisations_and_roles(api: Api) -> None:
    ngo_a, ngo_b = api.client(api.ngo_a), api.client(api.ngo_b)
    platform, admin = api.client(api.platform), api.client(api.admin)
    case = _open_case(ngo_a)
    case_id = case["case_id"]
    text, _ = _fingerprint_file(1)
    for response in (
        ngo_b.get(f"/v1/cases/{case_id}"),
        ngo_b.post(f"/v1/cases/{case_id}/withdraw"),
        ngo_b.post(
            f"/v1/cases/{case_id}/fingerprints",
            content=text,
            headers={"content-type": "application/json"},
        ),
        ngo_b.get(f"/v1/cases/{case_id}/matches"),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM
    assert ngo_b.get("/v1/cases").json()["total"] == 0
    assert ngo_a.get("/v1/cases").json()["total"] == 1
    assert platform.get(f"/v1/cases/{case_id}").status_code == 403
    assert platform.get("/v1/cases").status_code == 403
    assert admin.post("/v1/cases").status_code == 403
    assert ngo_a.get("/v1/feed").status_code == 403
    assert ngo_a.post("/v1/keys", json={"role": "admin"}).status_code == 403
    assert api.client().get("/v1/cases").status_code == 401
    assert api.client("emp_000000000000_nope").get("/v1/cases").status_code == 401
    assert api.client("garbage").get("/v1/cases").status_code == 401
    assert ngo_a.get(f"/v1/cases/{case_id}").json()["status"] == "received"


def test_revoked_key_is_refused_at_once(api: Api) -> None:
    admin = api.client(api.admin)
    created = admin.post("/v1/keys", json={"role": "ngo", "organisation": "3018"})
    assert created.status_code == 201
    key = created.json()["key"]
    client = api.client(key)
    assert client.get("/v1/cases").status_code == 200
    assert admin.post(f"/v1/keys/{created.json()['prefix']}/revoke").status_code == 200
    assert client.get("/v1/cases").status_code == 401
    listed = admin.get("/v1/keys").json()
    assert all("key" not in row for row in listed)


def test_new_user_journey(api: Api) -> None:
    """Open a case, attach fingerprints, match an upload, withdraw as the victim, match again."""
    ngo, platform = api.client(api.ngo_a), api.client(api.platform)
    case = _open_case(ngo)
    text, images = _fingerprint_file(1, 2)
    attached = ngo.post(
        f"/v1/cases/{case['case_id']}/fingerprints",
        content=text,
        headers={"content-type": "application/json"},
    )
    assert attached.status_code == 200, attached.text
    assert attached.json() == {"accepted": 2, "already_present": 0, "refused": [], "reassigned": []}

    repost = encode(Image.open(io.BytesIO(images[0])).resize((480, 360)), "JPEG", quality=60)
    found = platform.post("/v1/match", files={"file": ("upload.jpg", repost, "image/jpeg")})
    assert found.status_code == 200, found.text
    matches = found.json()["matches"]
    assert len(matches) == 1
    match = matches[0]
    assert set(match) == {
        "match_id",
        "fingerprint_id",
        "signal",
        "distance",
        "confidence",
        "query",
        "box",
        "inliers",
        "query_share",
        "registered_share",
        "query_range",
        "registered_range",
    }
    assert match["signal"] == "pdq"
    raw = found.text
    assert str(case["case_number"]) not in raw and "E-Enfance" not in raw
    assert str(case["case_id"]) not in raw

    assert (
        platform.post(
            f"/v1/matches/{match['match_id']}/feedback", json={"feedback": "blocked"}
        ).status_code
        == 204
    )
    events = ngo.get(f"/v1/cases/{case['case_id']}/matches").json()
    assert [e["feedback"] for e in events] == ["blocked"]

    credentials = {"case_number": case["case_number"], "pin": case["pin"]}
    status = api.client().post("/v1/case-status", json=credentials)
    assert status.status_code == 200
    assert status.json()["status"] == "active"
    assert status.json()["matches"] == 1
    withdrawn = api.client().post("/v1/case-withdrawal", json=credentials)
    assert withdrawn.json()["status"] == "withdrawn"

    again = platform.post("/v1/match", files={"file": ("upload.jpg", repost, "image/jpeg")})
    assert again.json() == {"matches": []}
    feed = platform.get("/v1/feed", params={"since": 0}).json()
    ops = [c["op"] for c in feed["changes"]]
    assert ops.count("add") == ops.count("remove") > 0
    assert ops.index("remove") > ops.index("add")
    later = platform.get("/v1/feed", params={"since": feed["checkpoint"]}).json()
    assert later["changes"] == [] and later["checkpoint"] == feed["checkpoint"]


def test_match_by_hashes_in_batches(sqlite_api: Api) -> None:
    api = sqlite_api
    ngo, platform = api.client(api.ngo_a), api.client(api.platform)
    case = _open_case(ngo)
    text, _ = _fingerprint_file(3)
    ngo.post(
        f"/v1/cases/{case['case_id']}/fingerprints",
        content=text,
        headers={"content-type": "application/json"},
    )
    pdq = json.loads(text)["records"][0]["signals"][0]["value"]
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(999)]
    body = {"signals": [{"type": "pdq", "value": v} for v in [*noise, pdq]]}
    found = platform.post("/v1/match", json=body).json()["matches"]
    assert [m["query"] for m in found] == [999]
    assert found[0]["distance"] == 0 and found[0]["confidence"] == 1.0
    too_many = {"signals": [{"type": "pdq", "value": pdq}] * 1001}
    assert platform.post("/v1/match", json=too_many).status_code == 422
    bad = platform.post("/v1/match", json={"signals": [{"type": "pdq", "value": "zz"}]})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == PROBLEM
    unknown = platform.post("/v1/match", json={"signals": [{"type": "colour", "value": "00"}]})
    assert "unknown signal type" in unknown.text


def test_fingerprint_file_refusals_are_per_record(sqlite_api: Api) -> None:
    api = sqlite_api
    ngo = api.client(api.ngo_a)
    case = _open_case(ngo)
    text, _ = _fingerprint_file(4, 5)
    document = json.loads(text)
    document["records"][0]["signals"][0]["value"] = "0" * 64
    document["records"].insert(1, {"id": "nonsense"})
    response = ngo.post(f"/v1/cases/{case['case_id']}/fingerprints", json=document)
    body = response.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["refused"]] == [0, 1]
    assert "all zeros" in body["refused"][0]["reason"]
    multipart = ngo.post(
        f"/v1/cases/{case['case_id']}/fingerprints",
        files={"file": ("fp.json", text.encode(), "application/json")},
    )
    assert multipart.json() == {
        "accepted": 1,
        "already_present": 1,
        "refused": [],
        "reassigned": [],
    }


def test_hostile_requests_get_clear_4xx(sqlite_api: Api) -> None:
    api = sqlite_api
    ngo, platform = api.client(api.ngo_a), api.client(api.platform)
    case_id = _open_case(ngo)["case_id"]
    url = f"/v1/cases/{case_id}/fingerprints"
    for content in (b"{not json", b"[]", b'{"format": "x"}', b"\xff\xfe"):
        response = ngo.post(url, content=content, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
    assert ngo.post(url, content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    huge = b"0" * (api.settings.max_request_bytes + 1)
    assert (
        ngo.post(url, content=huge, headers={"content-type": "application/json"}).status_code == 413
    )
    text_file = ("notes.txt", b"hello, not an image", "image/jpeg")
    assert platform.post("/v1/match", files={"file": text_file}).status_code == 422
    bomb = platform.post("/v1/match", files={"file": ("bomb.png", png_bomb(), "image/png")})
    assert bomb.status_code == 413
    assert "decompression bomb" in bomb.json()["detail"]
    no_file = platform.post("/v1/match", files={"other": ("a", b"a", "text/plain")})
    assert no_file.status_code == 422
    assert platform.post("/v1/match", content=b"x").status_code == 415
    assert (
        platform.post("/v1/matches/nope/feedback", json={"feedback": "blocked"}).status_code == 404
    )
    assert platform.post("/v1/matches/x/feedback", json={"feedback": "maybe"}).status_code == 422
    assert api.client().get("/healthz").status_code == 200


def test_pin_guessing_is_throttled_and_uniform(sqlite_api: Api) -> None:
    api = sqlite_api
    case = _open_case(api.client(api.ngo_a))
    victim = api.client()
    wrong = {"case_number": case["case_number"], "pin": "not-it"}
    unknown = {"case_number": "EMP-0000-0000", "pin": "12345678"}
    first_wrong = victim.post("/v1/case-status", json=wrong)
    first_unknown = victim.post("/v1/case-status", json=unknown)
    assert first_wrong.status_code == first_unknown.status_code == 401
    assert first_wrong.json() == first_unknown.json()
    codes: dict[int, int] = {}
    for attempt in range(1_000):
        guess = {"case_number": case["case_number"], "pin": f"{attempt:08d}"}
        code = victim.post("/v1/case-status", json=guess).status_code
        codes[code] = codes.get(code, 0) + 1
    assert set(codes) <= {401, 429}
    assert codes[429] >= 990
    assert victim.post("/v1/case-status", json=wrong).headers.get("retry-after")
    assert victim.get("/healthz").status_code == 200


def test_readyz_metrics_and_docs(sqlite_api: Api) -> None:
    client = sqlite_api.client()
    assert client.get("/readyz").json()["status"] == "ready"
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/v1/match" in schema["paths"]
    metrics = client.get("/metrics").text
    assert "empreinte_requests_total" in metrics
    assert "empreinte_index_size" in metrics


def test_admin_can_rotate_keys(sqlite_api: Api) -> None:
    api = sqlite_api
    key = api.make_key(Role.PLATFORM, "VideoSite")
    admin = api.client(api.admin)
    prefix = key.split("_")[1]
    rotated = admin.post(f"/v1/keys/{prefix}/rotate", params={"grace_seconds": 0})
    assert rotated.status_code == 201
    assert api.client(rotated.json()["key"]).get("/v1/feed").status_code == 200
    assert api.client(key).get("/v1/feed").status_code == 401


def test_every_action_and_query_is_audited_without_the_image(sqlite_api: Api) -> None:
    api = sqlite_api
    ngo, platform = api.client(api.ngo_a), api.client(api.platform)
    case = _open_case(ngo)
    image = encode(photo(7, (640, 480)), "JPEG")
    platform.post("/v1/match", files={"file": ("x.jpg", image, "image/jpeg")})
    api.client().post("/v1/case-status", json={"case_number": case["case_number"], "pin": "0"})
    time.sleep(0.5)
    engine = make_engine(api.settings.url)
    with make_sessionmaker(engine)() as session:
        rows = session.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id)).all()
        actions = [r.action for r in rows]
        details = " ".join(str(r.details) for r in rows)
    engine.dispose()
    assert "case.open" in actions
    assert "match.query" in actions
    assert "victim.pin_failed" in actions
    assert image[:64].hex() not in details


def _screenshot(inner: Image.Image) -> tuple[bytes, tuple[int, int, int, int]]:
    """Put ``inner`` in a phone-like feed screenshot with bars and a caption."""
    canvas = Image.new("RGB", (720, 1400), (250, 250, 250))
    shrunk = inner.resize((680, 510))
    canvas.paste(shrunk, (20, 260))
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 720, 120), fill=(40, 40, 40))
    draw.text((40, 180), "someone posted this, look!!", fill=(0, 0, 0))
    draw.rectangle((0, 1300, 720, 1400), fill=(230, 230, 230))
    return encode(canvas, "PNG"), (20, 260, 680, 510)


def test_screenshot_of_a_registered_photo_matches_with_its_box(sqlite_api: Api) -> None:
    api = sqlite_api
    ngo, platform = api.client(api.ngo_a), api.client(api.platform)
    case = _open_case(ngo)
    original = photo(31, (1024, 768))
    record = fingerprint_bytes(encode(original, "JPEG", quality=92))
    ngo.post(
        f"/v1/cases/{case['case_id']}/fingerprints",
        content=fingerprint_file.dumps([record]),
        headers={"content-type": "application/json"},
    )
    shot, (x, y, w, h) = _screenshot(original)
    found = platform.post("/v1/match", files={"file": ("shot.png", shot, "image/png")})
    matches = found.json()["matches"]
    assert [m["fingerprint_id"] for m in matches] == [str(record.id)], found.text
    bx, by, bw, bh = matches[0]["box"]
    assert abs(bx - x) < 40 and abs(by - y) < 40
    assert abs(bw - w) < 60 and abs(bh - h) < 60
    unrelated, _ = _screenshot(photo(32, (1024, 768)))
    other = platform.post("/v1/match", files={"file": ("other.png", unrelated, "image/png")})
    assert other.json() == {"matches": []}


def test_ngo_schedules_a_crawl_and_follows_it(sqlite_api: Api) -> None:
    ngo, other = sqlite_api.client(sqlite_api.ngo_a), sqlite_api.client(sqlite_api.ngo_b)
    created = ngo.post("/v1/crawls", json={"seeds": ["https://forum.example/thread/1"]})
    assert created.status_code == 201, created.text
    crawl_id = created.json()["crawl_id"]
    assert ngo.get(f"/v1/crawls/{crawl_id}").json()["crawl_id"] == crawl_id
    assert other.get(f"/v1/crawls/{crawl_id}").status_code == 404
    bad = ngo.post("/v1/crawls", json={"seeds": ["ftp://nowhere"]})
    assert bad.status_code == 422

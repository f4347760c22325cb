"""Videos through the platform endpoint, over real HTTP on SQLite and PostgreSQL.

A victim's video is registered from its fingerprint file; a platform uploads a
re-encoded copy of it inside a longer video, a screenshot of one of its frames,
and hostile files. A withdrawn video never matches again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from empreinte.hashing import fingerprint_file
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.fingerprint import fingerprint_video
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.models import MatchEvent
from tests.api.conftest import Api, _start
from tests.conftest import encode as encode_image
from tests.hashing.videomake import audio_only_mkv, claim_size, encode, pan

PROBLEM = "application/problem+json"
LIMITS = VideoLimits(max_wall_seconds=60)
VICTIM = pan(21, 60, (320, 240))
"""Six seconds at 10 frames a second."""


def _register(api: Api) -> tuple[str, str]:
    """Open a case holding the victim's video; return the case id and the fingerprint id."""
    record = fingerprint_video(encode(VICTIM), LIMITS, isolated=False)
    ngo = api.client(api.ngo_a)
    case = ngo.post("/v1/cases").json()
    attached = ngo.post(
        f"/v1/cases/{case['case_id']}/fingerprints",
        content=fingerprint_file.dumps([record]),
        headers={"content-type": "application/json"},
    )
    assert attached.status_code == 200, attached.text
    assert attached.json()["accepted"] == 1, attached.text
    return str(case["case_id"]), str(record.id)


def _upload(client: httpx.Client, data: bytes, name: str = "upload.mp4") -> httpx.Response:
    return client.post("/v1/match", files={"file": (name, data, "application/octet-stream")})


def _longer_reencoded() -> bytes:
    """The victim's six seconds between five unrelated seconds on each side, re-encoded."""
    frames = pan(71, 50, (320, 240)) + VICTIM + pan(72, 50, (320, 240))
    return encode(frames, codec_options={"crf": "30"})


def test_video_clip_still_and_withdrawal(api: Api) -> None:
    case_id, fingerprint_id = _register(api)
    platform = api.client(api.platform)

    found = _upload(platform, _longer_reencoded())
    assert found.status_code == 200, found.text
    matches = found.json()["matches"]
    assert [m["fingerprint_id"] for m in matches] == [fingerprint_id]
    match = matches[0]
    assert match["registered_share"] >= 0.8
    assert match["query_share"] < match["registered_share"], match
    q_start, q_end = match["query_range"]
    assert q_start <= 5.5 and q_end >= 10.5  # the clip runs from 5 s to 11 s of the upload
    r_start, r_end = match["registered_range"]
    assert r_start <= 1.0 and r_end >= 5.0
    assert case_id not in found.text

    engine = make_engine(api.settings.url)
    with make_sessionmaker(engine)() as session:
        event = session.get(MatchEvent, match["match_id"])
        assert event is not None
        assert event.registered_share == match["registered_share"]
        assert event.query_range == match["query_range"]
    engine.dispose()

    still = encode_image(Image.fromarray(VICTIM[30]), "PNG")
    shot = platform.post("/v1/match", files={"file": ("shot.png", still, "image/png")})
    assert shot.status_code == 200, shot.text
    by_video = [m for m in shot.json()["matches"] if m["fingerprint_id"] == fingerprint_id]
    assert len(by_video) == 1 and by_video[0]["signal"] in ("pdq", "orb")
    r_start, r_end = by_video[0]["registered_range"]
    assert r_start <= 3.0 < r_end  # the screenshot is of the frame at 3 s

    assert api.client(api.ngo_a).post(f"/v1/cases/{case_id}/withdraw").status_code == 200
    assert _upload(platform, _longer_reencoded()).json() == {"matches": []}
    assert platform.post("/v1/match", files={"file": ("s.png", still, "image/png")}).json() == {
        "matches": []
    }


def test_unrelated_video_does_not_match(api: Api) -> None:
    _register(api)
    other = encode(pan(90, 60, (320, 240)))
    found = _upload(api.client(api.platform), other)
    assert found.status_code == 200, found.text
    assert found.json() == {"matches": []}


@pytest.fixture
def short_api(tmp_path: Path) -> Iterator[Api]:
    """A server on SQLite that takes videos of at most 3 seconds and 400 KB."""
    yield from _start("sqlite", tmp_path, max_video_seconds=3.0, max_video_bytes=400_000)


def test_hostile_videos_are_refused_with_a_reason(short_api: Api) -> None:
    platform = short_api.client(short_api.platform)
    mp4 = encode(pan(5, 20, (160, 120)), codec_options={"profile": "baseline"})
    cases = {
        "truncated": (mp4[: len(mp4) // 2], 422),
        "too long": (encode(pan(6, 60, (160, 120))), 413),
        "giant header": (claim_size(mp4, 100_000, 100_000), 422),
        "no picture": (audio_only_mkv(3), 422),
        "10,000 audio tracks": (audio_only_mkv(10_000), 413),
        "too many bytes": (mp4 + b"\0" * 400_000, 413),
    }
    for name, (data, status) in cases.items():
        response = _upload(platform, data)
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"] == PROBLEM, name
        assert response.json()["detail"], name
    empty = _upload(platform, b"")
    assert empty.status_code in (400, 422) and empty.headers["content-type"] == PROBLEM
    image_named_video = encode_image(Image.fromarray(VICTIM[0]), "PNG")
    named = _upload(platform, image_named_video, "clip.mp4")
    assert named.status_code == 200, named.text
    assert platform.get("/v1/feed").status_code == 200

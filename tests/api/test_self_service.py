"""Self-service cases over HTTP: proof-of-work, consent, limits, the hold until accepted."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from empreinte.store.self_service import leading_zero_bits
from tests.api.conftest import Api, _start
from tests.api.test_api import _fingerprint_file

BITS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def open_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    yield from _start(
        request.param,
        tmp_path,
        self_service_org="E-Enfance",
        self_service_work_bits=BITS,
        self_service_per_client=4,
    )


def solve(client: httpx.Client) -> dict[str, str]:
    """Ask for a challenge and find a nonce, as the page does."""
    issued = client.get("/v1/self-service/challenge").json()
    for n in itertools.count():
        nonce = str(n)
        digest = hashlib.sha256((issued["challenge"] + nonce).encode()).digest()
        if leading_zero_bits(digest) >= issued["bits"]:
            return {"challenge": issued["challenge"], "nonce": nonce}
    raise AssertionError("unreachable")


def submit(client: httpx.Client, text: str, **overrides: object) -> httpx.Response:
    body: dict[str, object] = {
        "consent": True,
        "age_confirmed": True,
        **solve(client),
        "file": json.loads(text),
    }
    body.update(overrides)
    return client.post("/v1/self-service/cases", json=body)


def test_a_self_service_case_matches_only_once_accepted(open_api: Api) -> None:
    api = open_api
    victim, ngo, platform = api.client(), api.client(api.ngo_a), api.client(api.platform)
    text, _ = _fingerprint_file(11)
    response = submit(victim, text)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "received" and created["accepted"] == 1
    pdq = json.loads(text)["records"][0]["signals"][0]["value"]
    query = {"signals": [{"type": "pdq", "value": pdq}]}
    assert platform.post("/v1/match", json=query).json()["matches"] == []
    listed = ngo.get("/v1/cases").json()["items"]
    assert [c["case_number"] for c in listed] == [created["case_number"]]
    assert listed[0]["status"] == "received"
    credentials = {"case_number": created["case_number"], "pin": created["pin"]}
    status = victim.post("/v1/case-status", json=credentials).json()
    assert status["status"] == "received" and status["fingerprints"] == 1
    other = api.client(api.ngo_b)
    assert other.post(f"/v1/cases/{listed[0]['case_id']}/accept").status_code == 404
    accepted = ngo.post(f"/v1/cases/{listed[0]['case_id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    assert len(platform.post("/v1/match", json=query).json()["matches"]) == 1
    assert ngo.post(f"/v1/cases/{listed[0]['case_id']}/accept").status_code == 409
    withdrawn = victim.post("/v1/case-withdrawal", json=credentials).json()
    assert withdrawn["status"] == "withdrawn"
    assert platform.post("/v1/match", json=query).json()["matches"] == []


def test_hostile_submissions_are_refused_clearly(open_api: Api) -> None:
    victim = open_api.client()
    text, _ = _fingerprint_file(12)
    no_consent = submit(victim, text, consent=False)
    assert no_consent.status_code == 422 and "consent" in no_consent.json()["detail"]
    assert submit(victim, text, age_confirmed=False).status_code == 422
    proof = solve(victim)
    body = {"consent": True, "age_confirmed": True, **proof, "file": json.loads(text)}
    assert victim.post("/v1/self-service/cases", json=body).status_code == 201
    reused = victim.post("/v1/self-service/cases", json=body)
    assert reused.status_code == 403 and "already used" in reused.json()["detail"]
    forged = {**body, "challenge": "0" * 32, "nonce": "1"}
    assert victim.post("/v1/self-service/cases", json=forged).status_code == 403
    garbage = submit(victim, text, file={"version": 2, "records": "nope"})
    assert garbage.status_code == 422
    limited = submit(victim, text)
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_a_wrong_nonce_spends_the_challenge(open_api: Api) -> None:
    victim = open_api.client()
    text, _ = _fingerprint_file(13)
    issued = victim.get("/v1/self-service/challenge").json()
    wrong = next(
        str(n)
        for n in itertools.count()
        if leading_zero_bits(hashlib.sha256((issued["challenge"] + str(n)).encode()).digest())
        < BITS
    )
    body = {
        "consent": True,
        "age_confirmed": True,
        "challenge": issued["challenge"],
        "nonce": wrong,
        "file": json.loads(text),
    }
    first = victim.post("/v1/self-service/cases", json=body)
    assert first.status_code == 403 and "not right" in first.json()["detail"]
    assert "already used" in victim.post("/v1/self-service/cases", json=body).json()["detail"]


def test_without_a_receiving_organisation_the_service_is_closed(sqlite_api: Api) -> None:
    victim = sqlite_api.client()
    response = victim.get("/v1/self-service/challenge")
    assert response.status_code == 404
    assert "no self-service" in response.json()["detail"]

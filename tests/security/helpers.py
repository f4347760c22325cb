"""What the hostile tests share: fingerprint files of drawn photos, cases, problems."""

from __future__ import annotations

import dataclasses
import uuid

import httpx

from empreinte.hashing import fingerprint_file
from empreinte.hashing.fingerprint import Fingerprint, fingerprint_bytes
from tests.conftest import encode, photo

PROBLEM = "application/problem+json"


def image(seed: int) -> bytes:
    return encode(photo(seed, (640, 480)), "JPEG", quality=92)


def record(seed: int, record_id: uuid.UUID | None = None) -> Fingerprint:
    found = fingerprint_bytes(image(seed))
    return dataclasses.replace(found, id=record_id) if record_id else found


def file_of(*records: Fingerprint) -> str:
    return fingerprint_file.dumps(records)


def open_case(client: httpx.Client) -> dict[str, str]:
    response = client.post("/v1/cases")
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def attach(client: httpx.Client, case_id: str, text: str) -> dict[str, object]:
    response = client.post(
        f"/v1/cases/{case_id}/fingerprints",
        content=text.encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def match(client: httpx.Client, data: bytes) -> list[dict[str, object]]:
    response = client.post("/v1/match", files={"file": ("x.jpg", data, "image/jpeg")})
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()["matches"]
    return found


def is_problem(response: httpx.Response, status: int) -> bool:
    return (
        response.status_code == status
        and response.headers.get("content-type", "").startswith(PROBLEM)
        and response.json().get("status") == status
    )

"""Holes 5 to 10: bombs, heavy bodies, PIN races, forged forwarding headers, 500s, metrics."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import func, select
from starlette.requests import Request

from empreinte.api.routes.ops import _may_read_metrics
from empreinte.hashing import fingerprint_file
from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store import models as m
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.keys import create_key
from tests.api.conftest import Api, _start
from tests.security.helpers import is_problem, open_case
from tests.servers import free_port, wait_ready
from tests.store.conftest import random_record


def rgba16_png(width: int, height: int) -> bytes:
    """A small PNG that claims ``width`` x ``height`` 16-bit RGBA pixels (8 bytes each)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * 8)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_thirty_concurrent_bombs_stay_under_two_gigabytes(tmp_path: Path) -> None:
    """Hole 5: 30 uploads of a 7000x7000 16-bit RGBA PNG, just under the 50 MP limit."""
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    migrate.upgrade(settings.url)
    engine = make_engine(settings.url)
    with make_sessionmaker(engine).begin() as session:
        _, key = create_key(session, m.Role.PLATFORM, "PhotoShare")
    engine.dispose()
    port = free_port()
    env = {**os.environ, "EMPREINTE_DATA_DIR": str(settings.data_dir), "EMPREINTE_WORKERS": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "empreinte", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, lambda: server.poll() is None)
        bomb = rgba16_png(7000, 7000)
        assert len(bomb) < 1_000_000

        def upload(_: int) -> int:
            with httpx.Client(timeout=300) as client:
                answer = client.post(
                    f"{base}/v1/match",
                    files={"file": ("b.png", bomb, "image/png")},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert answer.headers["content-type"].startswith("application/")
                return answer.status_code

        with ThreadPoolExecutor(30) as pool:
            codes = Counter(pool.map(upload, range(30)))
        peak = _peak_rss_mb(server.pid)
        healthy = httpx.get(f"{base}/healthz", timeout=10).status_code
    finally:
        server.terminate()
        server.wait(30)
    print(f"\n30 bombs: answers {dict(codes)}, server peak RSS {peak:.0f} MB")
    assert set(codes) <= {200, 503} and sum(codes.values()) == 30
    assert codes[200] >= 1
    assert peak < 2048
    assert healthy == 200


def _big_file(records: int) -> bytes:
    """A valid file whose records are all refused for low quality: parsing is the whole cost."""
    rng = np.random.default_rng(4)
    made = (random_record(rng, quality=10) for _ in range(records))
    return fingerprint_file.dumps(made).encode()


def test_healthz_answers_while_a_large_file_is_parsed(sqlite_api: Api) -> None:
    """Hole 6: parsing a 30,000-record file runs off the event loop.

    The measured latencies are printed (the issue's target is 100 ms); the test asserts
    what shows the loop is free, without a tight timing: /healthz keeps answering.
    """
    api = sqlite_api
    ngo = api.client(api.ngo_a)
    case = open_case(ngo)
    body = _big_file(30_000)
    latencies: list[float] = []
    done = threading.Event()

    def attach() -> None:
        try:
            with httpx.Client(base_url=api.base, timeout=600) as client:
                answer = client.post(
                    f"/v1/cases/{case['case_id']}/fingerprints",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {api.ngo_a}",
                        "content-type": "application/json",
                    },
                )
                assert answer.status_code == 200
        finally:
            done.set()

    worker = threading.Thread(target=attach)
    worker.start()
    with httpx.Client(base_url=api.base, timeout=60) as probe:
        while not done.is_set():
            started = time.perf_counter()
            assert probe.get("/healthz").status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
    worker.join()
    latencies.sort()
    median, worst = latencies[len(latencies) // 2], latencies[-1]
    print(
        f"\n/healthz during a {len(body):,}-byte attach: median {median * 1000:.0f} ms, "
        f"worst {worst * 1000:.0f} ms over {len(latencies)} probes"
    )
    assert len(latencies) >= 5, "answered while the file was being parsed, not after"
    assert worst < 5.0, "never held behind the parse (it took 10.8 s on the event loop)"


def test_many_multipart_parts_are_refused_quickly(sqlite_api: Api) -> None:
    """Hole 6 (multipart): a body of 355,449 parts is refused, and the loop stays free."""
    api = sqlite_api
    boundary = "x"
    part = f"--{boundary}\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
    body = (part * 355_449 + f"--{boundary}--\r\n").encode()
    answer = api.client(api.platform).post(
        "/v1/match",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert is_problem(answer, 422) or is_problem(answer, 413)


def _count(api: Api, action: str) -> int:
    engine = make_engine(api.settings.url)
    with make_sessionmaker(engine)() as session:
        total = session.scalar(
            select(func.count()).select_from(m.AuditEntry).where(m.AuditEntry.action == action)
        )
    engine.dispose()
    return int(total or 0)


def test_forty_concurrent_guesses_check_at_most_five(api: Api) -> None:
    """Hole 7: the throttle counts each attempt atomically before the PIN is checked."""
    case = open_case(api.client(api.ngo_a))

    def guess(attempt: int) -> int:
        with httpx.Client(base_url=api.base, timeout=120) as client:
            body = {"case_number": case["case_number"], "pin": f"{attempt:08d}"}
            return client.post("/v1/case-status", json=body).status_code

    with ThreadPoolExecutor(40) as pool:
        codes = Counter(pool.map(guess, range(40)))
    assert codes[401] <= 5 and codes[429] >= 35, codes
    assert _count(api, "victim.pin_failed") <= 5
    right = {"case_number": case["case_number"], "pin": case["pin"]}
    locked = api.client().post("/v1/case-status", json=right)
    assert locked.status_code == 429 and "help line" in locked.json()["detail"]


def test_forged_forwarded_for_is_ignored_and_the_lock_survives_a_restart(tmp_path: Path) -> None:
    """Hole 8: X-Forwarded-For counts only from a trusted proxy; the count is in the database."""
    started = _start("sqlite", tmp_path)
    api = next(started)
    try:
        victim = api.client()
        for attempt in range(30):
            body = {"case_number": f"EMP-AAAA-{attempt:04d}", "pin": "12345678"}
            headers = {"X-Forwarded-For": f"203.0.113.{attempt}"}
            last = victim.post("/v1/case-status", json=body, headers=headers)
        assert last.status_code == 429, "a changing header does not make a new client"
    finally:
        started.close()
    restarted = _start("sqlite", tmp_path, trusted_proxies=["127.0.0.1"])
    api = next(restarted)
    try:
        body = {"case_number": "EMP-BBBB-0000", "pin": "12345678"}
        assert api.client().post("/v1/case-status", json=body).status_code == 429, "kept"
        behind = {"X-Forwarded-For": "198.51.100.7"}
        fresh = api.client().post("/v1/case-status", json=body, headers=behind)
        assert fresh.status_code == 401, "behind the trusted proxy, another client"
    finally:
        restarted.close()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_hostile_bodies_and_paths_get_problem_json(sqlite_api: Api) -> None:
    """Hole 9: nesting, overflowing ids and long boundaries never give a plain-text 500."""
    api = sqlite_api
    ngo, platform = api.client(api.ngo_a), api.client(api.platform)
    case = open_case(ngo)
    deep = _nested(100_000)
    json_type = {"content-type": "application/json"}
    for client, path in (
        (ngo, f"/v1/cases/{case['case_id']}/fingerprints"),
        (platform, "/v1/match"),
        (api.client(), "/v1/case-status"),
    ):
        answer = client.post(path, content=deep, headers=json_type)
        assert is_problem(answer, 422) or is_problem(answer, 400), (path, answer.text[:200])
    assert is_problem(ngo.get("/v1/crawls/9223372036854775808"), 422)
    long = "b" * 300
    answer = platform.post(
        "/v1/match",
        content=f"--{long}\r\n".encode(),
        headers={"content-type": f"multipart/form-data; boundary={long}"},
    )
    assert is_problem(answer, 422)


def _request(client: str, headers: dict[str, str] | None = None) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (client, 5000),
    }
    return Request(scope)


def test_metrics_are_for_the_operator_and_bounded(tmp_path: Path) -> None:
    """Hole 10: made-up methods add no series; only loopback or the token reads the page."""
    assert _may_read_metrics(_request("127.0.0.1"), None)
    assert not _may_read_metrics(_request("203.0.113.9"), None)
    assert not _may_read_metrics(_request("127.0.0.1"), "s3cret")
    assert _may_read_metrics(_request("203.0.113.9", {"Authorization": "Bearer s3cret"}), "s3cret")
    started = _start("sqlite", tmp_path, metrics_token="s3cret")
    api = next(started)
    try:
        client = api.client()
        for i in range(200):
            client.request(f"X{i}", "/healthz")
        assert is_problem(client.get("/metrics"), 403)
        page = client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).text
    finally:
        started.close()
    series = [line for line in page.splitlines() if line.startswith("empreinte_requests_total{")]
    methods = {line.split('method="', 1)[1].split('"', 1)[0] for line in series}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert len(series) < 20

"""Load-test the API on loopback with wrk: hash lookups and image uploads at 1M registered hashes.

Steps: fill a fresh SQLite registry with N active PDQ hashes (bulk SQL, as a
help line's years of registrations would leave it), start ``empreinte serve``
in its own process (timing the cold start: migrations, change-log replay, index
build), then drive ``POST /v1/match`` with wrk from a second process:

* one PDQ hash per request, 90% unknown and 10% registered;
* one ~500x375 JPEG upload per request (multipart).

It also measures register-to-matchable and withdraw-to-gone through the API.
Needs ``wrk`` (Debian package ``wrk``).

Run: ``python -m benchmarks.api.run [--hashes 1000000] [--duration 15]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from benchmarks.common import EVALDATA, stamp, table
from empreinte.hashing import fingerprint_file
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.keys import create_key
from empreinte.store.models import Role

LUA_HASHES = """
local bodies = {}
local n = 0
for line in io.lines("%(bodies)s") do n = n + 1; bodies[n] = line end
local i = 0
request = function()
  i = (i %% n) + 1
  return wrk.format("POST", "/v1/match", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer %(key)s"}, bodies[i])
end
"""

LUA_UPLOAD = """
local f = io.open("%(body)s", "rb")
local body = f:read("*all")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "multipart/form-data; boundary=%(boundary)s"
wrk.headers["Authorization"] = "Bearer %(key)s"
"""


def fill(url: str, count: int, seed: int = 0) -> np.ndarray:
    """Insert ``count`` active PDQ hashes and their change-log rows; return the codes."""
    path = url.removeprefix("sqlite:///")
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    db = sqlite3.connect(path)
    now = "2026-01-01 00:00:00.000000"
    with db:
        db.executemany(
            "INSERT INTO hashes (id, signal, value, active) VALUES (?, 'pdq', ?, 1)",
            ((i + 1, codes[i].tobytes()) for i in range(count)),
        )
        db.executemany(
            "INSERT INTO changes (seq, hash_id, signal, value, op, at) "
            "VALUES (?, ?, 'pdq', ?, 'add', ?)",
            ((i + 1, i + 1, codes[i].tobytes(), now) for i in range(count)),
        )
    db.close()
    return codes


def wrk(script: Path, base: str, duration: int, connections: int) -> dict[str, str]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            f"{base}/v1/match",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {
        "rps": re.search(r"Requests/sec:\s+([\d.]+)", out),
        "p50": re.search(r"\s50%\s+([\d.]+\w+)", out),
        "p99": re.search(r"\s99%\s+([\d.]+\w+)", out),
        "non2xx": re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out),
        "errors": re.search(r"Socket errors:(.*)", out),
    }
    return {k: (v.group(1).strip() if v else "0") for k, v in found.items()}


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            raise SystemExit("the server stopped")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready")


def upload_body(boundary: str) -> bytes:
    candidates = sorted((EVALDATA / "imagenet_sample").glob("*.JPEG"))
    if candidates:
        data = candidates[0].read_bytes()
    else:
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (375, 500, 3), np.uint8)).save(
            buffer, "JPEG"
        )
        data = buffer.getvalue()
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="u.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode()


def journey(base: str, ngo: str, platform: str) -> tuple[float, float, bool]:
    """Register a photo, time until it matches; withdraw, check it is gone at once."""
    photo = sorted((EVALDATA / "imagenet_sample").glob("*.JPEG"))[1].read_bytes()
    record = fingerprint_bytes(photo)
    pdq = str(record.signals[0].value)
    with httpx.Client(base_url=base, timeout=30) as client:
        case = client.post("/v1/cases", headers={"Authorization": f"Bearer {ngo}"}).json()
        started = time.perf_counter()
        client.post(
            f"/v1/cases/{case['case_id']}/fingerprints",
            content=fingerprint_file.dumps([record]),
            headers={"Authorization": f"Bearer {ngo}", "content-type": "application/json"},
        )
        body = {"signals": [{"type": "pdq", "value": pdq}]}
        auth = {"Authorization": f"Bearer {platform}"}
        while not client.post("/v1/match", json=body, headers=auth).json()["matches"]:
            pass
        register = time.perf_counter() - started
        started = time.perf_counter()
        client.post(
            "/v1/case-withdrawal", json={"case_number": case["case_number"], "pin": case["pin"]}
        )
        withdraw = time.perf_counter() - started
        gone = client.post("/v1/match", json=body, headers=auth).json()["matches"] == []
    return register, withdraw, gone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="empreinte-bench-api-"))
    settings = Settings(data_dir=folder / "data")
    settings.data_dir.mkdir()
    migrate.upgrade(settings.url)
    engine = make_engine(settings.url)
    with make_sessionmaker(engine).begin() as session:
        platform = create_key(session, Role.PLATFORM, "LoadTest")[1]
        ngo = create_key(session, Role.NGO, "E-Enfance")[1]
    engine.dispose()
    started = time.perf_counter()
    codes = fill(settings.url, args.hashes)
    filled = time.perf_counter() - started
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "EMPREINTE_DATA_DIR": str(settings.data_dir)}
    server = subprocess.Popen(
        [sys.executable, "-m", "empreinte", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cold = wait_ready(base, server)
        rss = _rss_mb(server.pid)
        rng = np.random.default_rng(2)
        bodies = folder / "bodies.txt"
        with bodies.open("w") as out:
            for i in range(10_000):
                code = (
                    codes[rng.integers(len(codes))]
                    if i % 10 == 0
                    else rng.integers(0, 256, 32, dtype=np.uint8)
                )
                signal = {"type": "pdq", "value": bytes(code).hex()}
                out.write(json.dumps({"signals": [signal]}) + "\n")
        hashes_lua = folder / "hashes.lua"
        hashes_lua.write_text(LUA_HASHES % {"bodies": bodies, "key": platform})
        boundary = "empreinteboundary"
        upload = folder / "upload.bin"
        upload.write_bytes(upload_body(boundary))
        upload_lua = folder / "upload.lua"
        upload_lua.write_text(LUA_UPLOAD % {"body": upload, "boundary": boundary, "key": platform})
        wrk(hashes_lua, base, 3, args.connections)
        one_hash = wrk(hashes_lua, base, args.duration, args.connections)
        image = wrk(upload_lua, base, args.duration, args.connections)
        register, withdraw, gone = journey(base, ngo, platform)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"# API load benchmark, {stamp()}\n")
    print(
        f"{args.hashes:,} PDQ hashes registered (bulk fill {filled:.1f} s); server cold start "
        f"(migrations, replay, index build) {cold:.1f} s; server RSS {rss:,.0f} MB; wrk -t1 "
        f"-c{args.connections} -d{args.duration}s on the same 2-core machine.\n"
    )
    print(
        table(
            ["request", "requests/s", "p50", "p99", "non-2xx", "target"],
            [
                [
                    "one PDQ hash (10% hits)",
                    one_hash["rps"],
                    one_hash["p50"],
                    one_hash["p99"],
                    one_hash["non2xx"],
                    ">= 1,000/s, p99 <= 25 ms",
                ],
                [
                    "~500x375 JPEG upload",
                    image["rps"],
                    image["p50"],
                    image["p99"],
                    image["non2xx"],
                    ">= 150/s",
                ],
            ],
        )
    )
    print(
        f"\nRegister-to-matchable through the API: {register * 1000:.0f} ms (target <= 1 s). "
        f"Withdrawal call: {withdraw * 1000:.0f} ms; gone when it returned: {gone}."
    )


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()

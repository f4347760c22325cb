"""Uploaded images are hashed in memory and dropped: no file, no column, no log line holds them.

The server runs in its own process so that what it writes can be counted: its
``/proc/<pid>/io`` ``wchar`` is every byte it passed to ``write`` (files,
sockets, pipes). A 3 MB upload must leave the server writing a few kilobytes
(the answer, the audit row, the match event), and none of the image's bytes
may be found in the data folder or the logs.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from empreinte.hashing import fingerprint_file
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.keys import create_key
from empreinte.store.models import Role
from tests.conftest import photo
from tests.servers import free_port, wait_ready


def _written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar line")


def _big_png(marker: bytes) -> bytes:
    """A ~3 MB PNG carrying ``marker`` in a text chunk, with noise so it does not compress."""
    base = np.asarray(photo(42, (1200, 900)), dtype=np.int16)
    noisy = np.clip(base + np.random.default_rng(0).integers(-20, 20, base.shape), 0, 255)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", marker.hex())
    buffer = io.BytesIO()
    Image.fromarray(noisy.astype(np.uint8)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_upload_bytes_are_never_written(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir()
    migrate.upgrade(settings.url)
    engine = make_engine(settings.url)
    with make_sessionmaker(engine).begin() as session:
        platform = create_key(session, Role.PLATFORM, "PhotoShare")[1]
        ngo = create_key(session, Role.NGO, "E-Enfance")[1]
    engine.dispose()

    marker = secrets.token_bytes(24)
    image = _big_png(marker)
    assert len(image) > 2_000_000
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "EMPREINTE_DATA_DIR": str(data_dir), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "empreinte", "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(base, lambda: server.poll() is None)
        except RuntimeError:
            raise AssertionError(log.read_text()) from None
        with httpx.Client(base_url=base, timeout=60) as client:
            case = client.post("/v1/cases", headers={"Authorization": f"Bearer {ngo}"}).json()
            record = fingerprint_bytes(image)
            client.post(
                f"/v1/cases/{case['case_id']}/fingerprints",
                content=fingerprint_file.dumps([record]),
                headers={"Authorization": f"Bearer {ngo}", "content-type": "application/json"},
            )
            warm_up = io.BytesIO()
            photo(1).save(warm_up, "JPEG")
            client.post(
                "/v1/match",
                files={"file": ("warm-up.jpg", warm_up.getvalue(), "image/jpeg")},
                headers={"Authorization": f"Bearer {platform}"},
            )
            before = _written(server.pid)
            answer = client.post(
                "/v1/match",
                files={"file": ("private.png", image, "image/png")},
                headers={"Authorization": f"Bearer {platform}"},
            )
            after = _written(server.pid)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["matches"]) == 1
        assert after - before < 64_000, f"the server wrote {after - before} bytes"
    finally:
        server.terminate()
        server.wait(timeout=30)

    needles = [marker, marker.hex().encode(), image[1000:1064], image[-2000:-1936]]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix not in (".png",):
            content = path.read_bytes()
            for needle in needles:
                assert needle not in content, f"{path} holds bytes of the uploaded image"
    assert list((tmp_path / "tmp").iterdir()) == []

"""An uploaded video is decoded from memory and dropped: no file, column or log line holds it.

As for images (``test_privacy``), the server runs in its own process. The
video is handed to the killable decoding process through a pipe, which
``wchar`` counts; what reaches storage is ``write_bytes``, and it must stay
a few pages (the match event, the audit row) for a video of megabytes. No
slice of the video may be found in the data folder, the logs or ``TMPDIR``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from empreinte.hashing import fingerprint_file
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.fingerprint import fingerprint_video
from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.keys import create_key
from empreinte.store.models import Role
from tests.hashing.videomake import encode, pan
from tests.servers import free_port, wait_ready


def _io(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {k: int(v) for k, v in (line.split(": ") for line in lines)}


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc")
def test_uploaded_video_bytes_are_never_stored(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir()
    (tmp_path / "tmp").mkdir()
    migrate.upgrade(settings.url)
    engine = make_engine(settings.url)
    with make_sessionmaker(engine).begin() as session:
        platform = create_key(session, Role.PLATFORM, "PhotoShare")[1]
        ngo = create_key(session, Role.NGO, "E-Enfance")[1]
    engine.dispose()

    frames = pan(44, 60, (640, 480))
    video = encode(frames, codec_options={"crf": "0"})
    assert len(video) > 500_000
    record = fingerprint_video(video, VideoLimits(max_wall_seconds=60), isolated=False)
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "EMPREINTE_DATA_DIR": str(data_dir), "TMPDIR": str(tmp_path / "tmp")}
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
        with httpx.Client(base_url=base, timeout=120) as client:
            auth = {"Authorization": f"Bearer {ngo}"}
            case = client.post("/v1/cases", headers=auth).json()
            client.post(
                f"/v1/cases/{case['case_id']}/fingerprints",
                content=fingerprint_file.dumps([record]),
                headers={**auth, "content-type": "application/json"},
            )
            upload = {"Authorization": f"Bearer {platform}"}
            warm_up = encode(pan(45, 20, (160, 120)))
            client.post("/v1/match", files={"file": ("w.mp4", warm_up)}, headers=upload)
            before = _io(server.pid)
            answer = client.post("/v1/match", files={"file": ("v.mp4", video)}, headers=upload)
            after = _io(server.pid)
        assert answer.status_code == 200, answer.text
        assert [m["fingerprint_id"] for m in answer.json()["matches"]] == [str(record.id)]
        stored = after["write_bytes"] - before["write_bytes"]
        assert stored < 256_000, f"the server stored {stored} bytes"
        passed = after["wchar"] - before["wchar"]
        print(f"\nvideo {len(video):,} bytes: stored {stored:,} bytes, wrote {passed:,} bytes")
        assert passed < len(video) + 256_000, f"the server wrote {passed} bytes"
    finally:
        server.terminate()
        server.wait(timeout=30)

    needles = [video[n : n + 64] for n in range(10_000, len(video) - 64, len(video) // 8)]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for needle in needles:
                assert needle not in content, f"{path} holds bytes of the uploaded video"
    assert list((tmp_path / "tmp").iterdir()) == []

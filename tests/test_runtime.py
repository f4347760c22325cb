"""One runtime: ``worker`` and ``crawl`` honour the same settings as ``serve``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from empreinte.settings import Settings
from empreinte.store import migrate, registry
from empreinte.store.db import make_engine, make_sessionmaker
from tests.crawler.site import Site, html
from tests.store.conftest import random_record


def _environment(data: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "EMPREINTE_DATA_DIR": str(data), **extra}


def _registered(data: Path) -> None:
    settings = Settings(data_dir=data)
    data.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.url)
    engine = make_engine(settings.url)
    with make_sessionmaker(engine).begin() as session:
        ngo = registry.create_organisation(session, "E-Enfance", "ngo")
        case, _ = registry.open_case(session, ngo.id)
        registry.attach_fingerprints(session, case, [random_record(np.random.default_rng(5))])
    engine.dispose()


def test_worker_honours_the_snapshot_setting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _registered(data)
    env = _environment(data, EMPREINTE_SNAPSHOT_EVERY="0.3", EMPREINTE_FOLLOW_INTERVAL="0.05")
    worker = subprocess.Popen(
        [sys.executable, "-m", "empreinte", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    manifest = data / "index" / "manifest.json"
    try:
        deadline = time.monotonic() + 120
        while not manifest.exists() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
        assert manifest.exists(), "the worker wrote a snapshot within its interval"
        assert json.loads(manifest.read_text())["seq"] > 0
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)


def _crawl(data: Path, site: Site, **extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "empreinte", "crawl", site.base + "/", "--depth", "0"],
        env=_environment(data, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.stdout + done.stderr


def test_crawl_honours_the_loopback_setting(tmp_path: Path) -> None:
    site = Site(lambda path: html("<p>hello</p>") if path == "/" else None)
    with site.running():
        refused = _crawl(tmp_path / "a", site)
        reached = _crawl(tmp_path / "b", site, EMPREINTE_ALLOW_LOOPBACK="1")
    assert "blocked_address" in refused, refused
    assert "1 pages" in reached, reached

"""The live index follows the database: snapshots, restarts, crashes, and other processes."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from empreinte.hashing.signals import SignalType
from empreinte.store import migrate, registry
from empreinte.store import models as m
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.follow import Follower
from tests.dbs import fresh_postgres
from tests.store.conftest import random_record


def _register(sessions: sessionmaker[Session], count: int, seed: int) -> list[bytes]:
    """Register ``count`` random records in a new case; return their PDQ values."""
    rng = np.random.default_rng(seed)
    records = [random_record(rng) for _ in range(count)]
    with sessions.begin() as session:
        org = registry.get_or_create_organisation(session, "E-Enfance", "ngo")
        case, _ = registry.open_case(session, org.id)
        registry.attach_fingerprints(session, case, records)
    return [r.signals[0].value.raw for r in records]


def _found(follower: Follower, values: list[bytes]) -> int:
    return sum(bool(follower.live.search(SignalType.PDQ, v, 0)) for v in values)


def test_restart_loads_the_snapshot_and_replays_after_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    snapshot = tmp_path / "index"
    first = _register(sessions, 50, seed=1)
    follower = Follower(sessions, snapshot)
    follower.load()
    follower.snapshot()
    saved_seq = follower.live.seq
    second = _register(sessions, 30, seed=2)
    restarted = Follower(sessions, snapshot)
    assert not restarted.ready.is_set()
    restarted.load()
    assert restarted.ready.is_set()
    assert restarted.live.seq > saved_seq
    assert _found(restarted, first) == 50
    assert _found(restarted, second) == 30


@pytest.mark.parametrize("damage", ["truncate", "other-version", "garbage"])
def test_damaged_snapshot_is_rebuilt_from_the_database(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    snapshot = tmp_path / "index"
    values = _register(sessions, 40, seed=3)
    follower = Follower(sessions, snapshot)
    follower.load()
    follower.snapshot()
    target = snapshot / "pdq.idx"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage == "garbage":
        target.write_bytes(b"\x00" * 100)
    else:
        manifest = json.loads((snapshot / "manifest.json").read_text())
        manifest["version"] = 999
        (snapshot / "manifest.json").write_text(json.dumps(manifest))
    restarted = Follower(sessions, snapshot)
    with caplog.at_level(logging.WARNING, logger="empreinte.store.follow"):
        restarted.load()
    assert "rebuilding from the database" in caplog.text
    assert _found(restarted, values) == 40


def test_corrupt_change_row_is_skipped_and_logged(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    values = _register(sessions, 3, seed=4)
    with sessions.begin() as session:
        hash_id = session.query(m.Hash.id).first()
        assert hash_id is not None
        for signal_name, value in (("pdq", b"\x00" * 5), ("colourhash", b"\x01" * 32)):
            session.execute(
                insert(m.Change).values(
                    hash_id=hash_id[0], signal=signal_name, value=value, op="add"
                )
            )
    more = _register(sessions, 2, seed=5)
    follower = Follower(sessions)
    with caplog.at_level(logging.WARNING):
        follower.load()
    assert "skipped a corrupt change" in caplog.text
    assert _found(follower, values + more) == 5


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from empreinte.store import registry
    from empreinte.store.db import make_engine, make_sessionmaker
    from tests.store.conftest import random_record

    sessions = make_sessionmaker(make_engine(sys.argv[1]))
    rng = np.random.default_rng(7)
    records = [random_record(rng) for _ in range(25)]
    with sessions.begin() as session:
        org = registry.get_or_create_organisation(session, "E-Enfance", "ngo")
        case, _ = registry.open_case(session, org.id)
        registry.attach_fingerprints(session, case, records)
    print(" ".join(r.signals[0].value.raw.hex() for r in records), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_kill_9_between_commit_and_snapshot_loses_nothing(db_url: str, tmp_path: Path) -> None:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    snapshot = tmp_path / "index"
    before = _register(sessions, 10, seed=6)
    follower = Follower(sessions, snapshot)
    follower.load()
    follower.snapshot()
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    written = [bytes.fromhex(h) for h in child.stdout.split()]
    assert len(written) == 25
    restarted = Follower(sessions, snapshot)
    restarted.load()
    assert _found(restarted, before) == 10
    assert _found(restarted, written) == 25
    engine.dispose()


_WATCHER = textwrap.dedent(
    """
    import sys, time
    from empreinte.hashing.signals import SignalType
    from empreinte.store.db import make_engine, make_sessionmaker
    from empreinte.store.follow import Follower

    follower = Follower(make_sessionmaker(make_engine(sys.argv[1])), interval=0.05)
    follower.start()
    follower.ready.wait(60)
    print("ready", flush=True)
    for line in sys.stdin:
        value_hex, want = line.split()
        value = bytes.fromhex(value_hex)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            present = bool(follower.live.search(SignalType.PDQ, value, 0))
            if present == (want == "present"):
                break
            time.sleep(0.005)
        print(f"{want} {time.time():.6f}", flush=True)
    follower.stop(snapshot=False)
    """
)


def test_two_processes_on_postgresql_see_each_other() -> None:
    with fresh_postgres() as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        watcher = subprocess.Popen(
            [sys.executable, "-c", _WATCHER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert watcher.stdin is not None and watcher.stdout is not None
        try:
            assert watcher.stdout.readline().strip() == "ready"
            rng = np.random.default_rng(8)
            record = random_record(rng)
            value = record.signals[0].value.raw
            with sessions.begin() as session:
                org = registry.get_or_create_organisation(session, "E-Enfance", "ngo")
                case, _ = registry.open_case(session, org.id)
                registry.attach_fingerprints(session, case, [record])
                case_id = case.id
            committed = time.time()
            watcher.stdin.write(f"{value.hex()} present\n")
            watcher.stdin.flush()
            state, seen = watcher.stdout.readline().split()
            assert state == "present"
            add_latency = float(seen) - committed
            with sessions.begin() as session:
                registry.withdraw_case(session, session.get_one(m.Case, case_id))
            committed = time.time()
            watcher.stdin.write(f"{value.hex()} absent\n")
            watcher.stdin.flush()
            state, seen = watcher.stdout.readline().split()
            assert state == "absent"
            withdraw_latency = float(seen) - committed
            print(
                f"\nother process saw the add after {add_latency * 1000:.0f} ms "
                f"and the withdrawal after {withdraw_latency * 1000:.0f} ms"
            )
            assert add_latency < 30 and withdraw_latency < 30, "the watcher gave up"
        finally:
            watcher.stdin.close()
            watcher.wait(timeout=30)
            engine.dispose()

"""Keep a :class:`LiveIndex` in step with the database's change log.

On start, the follower loads the last snapshot (or starts empty when there is
none, or it is damaged or of another version: that is logged, and the whole
log is replayed, which rebuilds the index from the database), replays the
changes after it, and only then reports ready. It then polls the log every
``interval`` seconds, so other processes' adds and withdrawals reach this one
within about that time. Services in this process call :meth:`Follower.catch_up`
right after their commit, so their own changes take effect before they return.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from empreinte.index.live import LiveIndex
from empreinte.index.mih import IndexFileError
from empreinte.store.registry import changes_since, last_seq

log = logging.getLogger(__name__)


class Follower:
    """Apply the change log to a live index, and snapshot it now and then."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        snapshot_dir: Path | None = None,
        *,
        interval: float = 0.2,
        snapshot_every: float = 300.0,
    ) -> None:
        self.sessions = sessions
        self.snapshot_dir = snapshot_dir
        self.interval = interval
        self.snapshot_every = snapshot_every
        self.live = LiveIndex()
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._apply_lock = threading.Lock()
        self._snapshot_seq = 0

    def load(self) -> None:
        """Load the snapshot, replay the log since it, and mark the index ready."""
        started = time.perf_counter()
        self.live = self._load_snapshot()
        self._snapshot_seq = self.live.seq
        replayed = self.catch_up()
        self.live.warm_up()
        self.ready.set()
        log.info(
            "index ready at seq %d: %d changes replayed in %.2f s",
            self.live.seq,
            replayed,
            time.perf_counter() - started,
        )

    def _load_snapshot(self) -> LiveIndex:
        if self.snapshot_dir is None or not self.snapshot_dir.exists():
            return LiveIndex()
        try:
            live = LiveIndex.load(self.snapshot_dir)
        except IndexFileError as exc:
            log.warning("index snapshot unusable, rebuilding from the database: %s", exc)
            return LiveIndex()
        with self.sessions() as session:
            head = last_seq(session)
        if live.seq > head:
            log.warning(
                "index snapshot is ahead of the database (seq %d > %d), rebuilding", live.seq, head
            )
            return LiveIndex()
        return live

    def catch_up(self) -> int:
        """Apply every change committed so far; return how many were applied."""
        total = 0
        with self._apply_lock:
            while True:
                with self.sessions() as session:
                    changes = changes_since(session, self.live.seq)
                if not changes:
                    return total
                total += self.live.apply(changes)

    def start(self) -> None:
        """Load in the background, then follow the log until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="index-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.load()
        last_snapshot = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                self.catch_up()
                if time.monotonic() - last_snapshot >= self.snapshot_every:
                    self.snapshot()
                    last_snapshot = time.monotonic()
            except Exception:
                log.exception("index follower failed; retrying")

    def snapshot(self) -> None:
        """Compact the indexes and write a snapshot, if anything changed since the last."""
        if self.snapshot_dir is None or self.live.seq == self._snapshot_seq:
            return
        with self._apply_lock:
            self.live.compact()
            self.live.save(self.snapshot_dir)
            self._snapshot_seq = self.live.seq
        log.info("index snapshot written at seq %d", self._snapshot_seq)

    def stop(self, *, snapshot: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if snapshot and self.ready.is_set():
            self.snapshot()

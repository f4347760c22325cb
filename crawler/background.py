"""Run crawler work in a background thread of another program (``empreinte serve``)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading

from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawler import worker
from empreinte.settings import Settings
from empreinte.store.follow import Follower

log = logging.getLogger(__name__)


class CrawlerThread:
    """Work on every running crawl, in its own event loop, until :meth:`stop`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        follower: Follower,
        settings: Settings,
        *,
        hashers: int | None = 0,
    ) -> None:
        """``hashers``: hashing processes (None: one per CPU; 0: a thread, as inside ``serve``)."""
        self.hashers = hashers
        self.sessions = sessions
        self.follower = follower
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="crawler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        while not self.follower.ready.is_set():
            if self._stop.is_set():
                return
            await asyncio.sleep(0.1)
        worker_id = f"{socket.gethostname()}:{os.getpid()}:serve"
        while not self._stop.is_set():
            try:
                await worker.run(
                    self.sessions,
                    self.follower.live,
                    worker_id=worker_id,
                    stop_event=self._stop,
                    allow_loopback=self.settings.allow_loopback,
                    hashers=self.hashers,
                )
            except Exception:
                log.exception("crawler worker failed; restarting")
                await asyncio.sleep(1.0)

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
